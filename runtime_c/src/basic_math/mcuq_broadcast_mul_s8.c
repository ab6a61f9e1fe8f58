/*
 * mcuq_broadcast_mul_s8: int8 multiplication of two operands whose [N,H,W,C] dims broadcast to the
 * output's (each dim the output's or 1). Its main use is squeeze-excitation: x [N,H,W,C] times a
 * per-channel gate [N,1,1,C], a layer that moves as many bytes as its input. The arithmetic is
 * mcuq_elementwise_mul_s8's (TFLite int8 Mul):
 *   out = clamp(requantize((in1 + input1_offset) * (in2 + input2_offset), output multiplier,
 *               output shift) + output_offset, act.min, act.max)
 * Pixels outer, channels inner: the gate's C bytes are reread for every pixel. Rows where both
 * operands run along the channels (the SE case, either operand order) take a fast path (exact):
 * - DSP (Cortex-M4/M7/M33): four elements per step, the offsets added two at a time (SXTB16, SADD16),
 *   the products by SMULBB/SMULTT, each requantized by mcuq_requantize_fast's one SMLAL;
 * - MVE (Cortex-M55): four lanes per vector, mcuq_requantize_mve.
 * Both need a non-negative multiplier and offsets in [-255, 255] (Prepare gives them); other
 * parameters take the portable path. In place over an operand of the output's dims is allowed,
 * never over a broadcast one (it is read again for later pixels).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

static inline int8_t bmul8_one(const mcuq_mul_params *p, int32_t x1, int32_t x2)
{
    const int32_t prod = (x1 + p->input1_offset) * (x2 + p->input2_offset);
    const int32_t res = mcuq_requantize(prod, p->output_quant.multiplier, p->output_quant.shift) + p->output_offset;
    return (int8_t)mcuq_clamp_s32(res, p->activation.min, p->activation.max);
}

/* The portable reference: any steps. */
static void bmul8_row(const void *vparams, const mcuq_broadcast_row *row)
{
    const mcuq_mul_params *const p = (const mcuq_mul_params *)vparams;
    int32_t i;
    for (i = 0; i < row->size; i++)
    {
        row->output[i] = bmul8_one(p, row->input1[i * row->step1], row->input2[i * row->step2]);
    }
}

#if defined(MCUQ_PATH_MVE)

/* Both operands along the row: four lanes per vector, the tail predicated. */
static void bmul8_row_fast(const void *vparams, const mcuq_broadcast_row *row)
{
    const mcuq_mul_params *const p = (const mcuq_mul_params *)vparams;
    const int32x4_t mult = vdupq_n_s32(p->output_quant.multiplier), shift = vdupq_n_s32(p->output_quant.shift);
    const int32x4_t lo = vdupq_n_s32(p->activation.min), hi = vdupq_n_s32(p->activation.max);
    const int8_t *in1 = row->input1, *in2 = row->input2;
    int8_t *out = row->output;
    int32_t n;
    for (n = row->size; n > 0; n -= 4)
    {
        const mve_pred16_t pred = vctp32q((uint32_t)n);
        const int32x4_t a = vaddq_n_s32(vldrbq_z_s32(in1, pred), p->input1_offset);
        const int32x4_t b = vaddq_n_s32(vldrbq_z_s32(in2, pred), p->input2_offset);
        int32x4_t o = mcuq_requantize_mve(vmulq_s32(a, b), mult, shift);
        o = vminq_s32(vmaxq_s32(vaddq_n_s32(o, p->output_offset), lo), hi);
        vstrbq_p_s32(out, o, pred);
        in1 += 4;
        in2 += 4;
        out += 4;
    }
}

#elif defined(MCUQ_HAVE_DSP)

static inline int8_t bmul8_requantize_dsp(const mcuq_mul_params *p, int32_t prod)
{
    const int32_t res =
        mcuq_requantize_fast(prod, p->output_quant.multiplier, p->output_quant.shift) + p->output_offset;
    return (int8_t)mcuq_clamp_s32(res, p->activation.min, p->activation.max);
}

/* An offset in both int16 halves of a word (SADD16's operand). */
static inline int32_t bmul8_pair(int32_t offset)
{
    return (int32_t)((uint32_t)(uint16_t)offset * 0x10001u);
}

/* Both operands along the row: four elements per step (bytes 0 and 2, then 1 and 3, as int16 pairs). */
static void bmul8_row_fast(const void *vparams, const mcuq_broadcast_row *row)
{
    const mcuq_mul_params *const p = (const mcuq_mul_params *)vparams;
    const int32_t off1 = bmul8_pair(p->input1_offset);
    const int32_t off2 = bmul8_pair(p->input2_offset);
    const int8_t *const in1 = row->input1, *const in2 = row->input2;
    int8_t *const out = row->output;
    int32_t i;
    for (i = 0; i + 4 <= row->size; i += 4)
    {
        const int32_t w1 = mcuq_read_s8x4(in1 + i), w2 = mcuq_read_s8x4(in2 + i);
        const int32_t a02 = mcuq_sadd16(mcuq_sxtb16(w1), off1), a13 = mcuq_sadd16(mcuq_sxtb16_ror8(w1), off1);
        const int32_t b02 = mcuq_sadd16(mcuq_sxtb16(w2), off2), b13 = mcuq_sadd16(mcuq_sxtb16_ror8(w2), off2);
        out[i] = bmul8_requantize_dsp(p, mcuq_smlabb(a02, b02, 0));
        out[i + 1] = bmul8_requantize_dsp(p, mcuq_smlabb(a13, b13, 0));
        out[i + 2] = bmul8_requantize_dsp(p, mcuq_smlatt(a02, b02, 0));
        out[i + 3] = bmul8_requantize_dsp(p, mcuq_smlatt(a13, b13, 0));
    }
    for (; i < row->size; i++)
    {
        out[i] = bmul8_one(p, in1[i], in2[i]);
    }
}

#endif

/* The row function for these dims and params, chosen once. */
static mcuq_broadcast_row_fn bmul8_row_fn(const mcuq_mul_params *params, const mcuq_broadcast_dims *dims)
{
#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
    const int along = dims->input1.c == dims->output.c && dims->input2.c == dims->output.c;
    const int exact = params->output_quant.multiplier >= 0 && params->input1_offset >= -255 &&
                      params->input1_offset <= 255 && params->input2_offset >= -255 && params->input2_offset <= 255;
    if (along && exact)
    {
        return bmul8_row_fast;
    }
#else
    (void)params;
    (void)dims;
#endif
    return bmul8_row;
}

MCUQ_API mcuq_status mcuq_broadcast_mul_s8(const mcuq_mul_params *params,
                                           const mcuq_broadcast_dims *dims,
                                           const int8_t *input1,
                                           const int8_t *input2,
                                           int8_t *output)
{
    if (params == NULL || dims == NULL || input1 == NULL || input2 == NULL || output == NULL ||
        !mcuq_broadcast_dims_ok(dims) || !mcuq_activation_ok(&params->activation))
    {
        return MCUQ_ARG_ERROR;
    }
    mcuq_broadcast_rows(dims, input1, input2, output, bmul8_row_fn(params, dims), params);
    return MCUQ_OK;
}
