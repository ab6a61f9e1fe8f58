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
 *   the products by SMULBB/SMULTT, each requantized by mcuq_requantize_rshift's one SMLAL (for a
 *   right shift, which Prepare gives where s1 s2 < s_out);
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

#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
/* Parameters the fast rows compute exactly: a non-negative multiplier (mcuq_requantize_mve, and
 * mcuq_requantize_rshift), offsets in [-255, 255] (int16 lanes on DSP: |product| < 2^18, so the high
 * word of product * multiplier is below 2^17), and on DSP a right shift n in [2, 31] whose high word,
 * with the output offset in it, stays in int32. */
static int bmul8_fast_ok(const mcuq_mul_params *p)
{
    const int32_t n = -p->output_quant.shift;
    const int64_t zp = p->output_offset < 0 ? -(int64_t)p->output_offset : p->output_offset;
#if defined(MCUQ_PATH_MVE)
    const int shift_ok = 1;
    (void)n;
    (void)zp;
#else
    const int shift_ok = n >= 2 && n <= 31 &&
                         ((int64_t)1 << 17) + ((int64_t)1 << (n - 2)) + (zp << (n - 1)) + 2 <= MCUQ_Q31_MAX;
#endif
    return shift_ok && p->output_quant.multiplier >= 0 && p->input1_offset >= -255 && p->input1_offset <= 255 &&
           p->input2_offset >= -255 && p->input2_offset <= 255;
}
#endif

#if defined(MCUQ_PATH_MVE)

/* Both operands along the row: four lanes per vector, the tail predicated. The parameters are copied
 * to locals: a store through int8_t *out could change a struct in memory, so the compiler would
 * reload them after every store. */
static void bmul8_row_fast(const void *vparams, const mcuq_broadcast_row *row)
{
    const mcuq_mul_params *const p = (const mcuq_mul_params *)vparams;
    const int32x4_t mult = vdupq_n_s32(p->output_quant.multiplier), shift = vdupq_n_s32(p->output_quant.shift);
    const int32x4_t lo = vdupq_n_s32(p->activation.min), hi = vdupq_n_s32(p->activation.max);
    const int32_t off1 = p->input1_offset, off2 = p->input2_offset, zp = p->output_offset;
    const int8_t *in1 = row->input1, *in2 = row->input2;
    int8_t *out = row->output;
    int32_t n;
    for (n = row->size; n > 0; n -= 4)
    {
        const mve_pred16_t pred = vctp32q((uint32_t)n);
        const int32x4_t a = vaddq_n_s32(vldrbq_z_s32(in1, pred), off1);
        const int32x4_t b = vaddq_n_s32(vldrbq_z_s32(in2, pred), off2);
        int32x4_t o = mcuq_requantize_mve(vmulq_s32(a, b), mult, shift);
        o = vminq_s32(vmaxq_s32(vaddq_n_s32(o, zp), lo), hi);
        vstrbq_p_s32(out, o, pred);
        in1 += 4;
        in2 += 4;
        out += 4;
    }
}

#elif defined(MCUQ_HAVE_DSP)

/* The output's constants, in the caller's registers (see the MVE row): mcuq_requantize_rshift for
 * n = -shift >= 2 with the output offset riding in the high word, hi0 = 2^(n-2) + zp * 2^(n-1), which
 * the arithmetic shift by n - 1 turns into + zp exactly (bmul8_fast_ok checks it cannot overflow). */
typedef struct {
    int32_t mult, n1, hi0, lo, hi;
} bmul8_out;

/* `full`, a constant at each call: the clamp is int8's own range, one SSAT. */
static inline int8_t bmul8_requantize_dsp(const bmul8_out *k, int32_t prod, int full)
{
    const uint32_t lo = 0x40000000u | ((uint32_t)prod & 0x80000000u);
    const int32_t hi = k->hi0 + (prod >> 31);
    const int64_t acc = (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)prod * k->mult;
    const int32_t res = (int32_t)(acc >> 32) >> k->n1;
    return (int8_t)(full ? mcuq_ssat8(res) : mcuq_clamp_s32(res, k->lo, k->hi));
}

/* An offset in both int16 halves of a word (SADD16's operand). */
static inline int32_t bmul8_pair(int32_t offset)
{
    return (int32_t)((uint32_t)(uint16_t)offset * 0x10001u);
}

/* Four elements per step (bytes 0 and 2, then 1 and 3, as int16 pairs); `full` as above. */
static inline void bmul8_loop_dsp(const bmul8_out *kp, int32_t off1, int32_t off2, const int8_t *in1,
                                  const int8_t *in2, int8_t *out, int32_t size, int full)
{
    const bmul8_out k = *kp;
    int32_t i;
    for (i = 0; i + 4 <= size; i += 4)
    {
        const int32_t w1 = mcuq_read_s8x4(in1 + i), w2 = mcuq_read_s8x4(in2 + i);
        const int32_t a02 = mcuq_sadd16(mcuq_sxtb16(w1), off1), a13 = mcuq_sadd16(mcuq_sxtb16_ror8(w1), off1);
        const int32_t b02 = mcuq_sadd16(mcuq_sxtb16(w2), off2), b13 = mcuq_sadd16(mcuq_sxtb16_ror8(w2), off2);
        out[i] = bmul8_requantize_dsp(&k, mcuq_smlabb(a02, b02, 0), full);
        out[i + 1] = bmul8_requantize_dsp(&k, mcuq_smlabb(a13, b13, 0), full);
        out[i + 2] = bmul8_requantize_dsp(&k, mcuq_smlatt(a02, b02, 0), full);
        out[i + 3] = bmul8_requantize_dsp(&k, mcuq_smlatt(a13, b13, 0), full);
    }
}

/* Both operands along the row: the DSP loop, the tail by the portable element. */
static void bmul8_row_fast(const void *vparams, const mcuq_broadcast_row *row)
{
    const mcuq_mul_params *const p = (const mcuq_mul_params *)vparams;
    const int32_t n = -p->output_quant.shift;
    const bmul8_out k = {p->output_quant.multiplier, n - 1, (1 << (n - 2)) + p->output_offset * (1 << (n - 1)),
                         p->activation.min, p->activation.max};
    const int32_t off1 = bmul8_pair(p->input1_offset), off2 = bmul8_pair(p->input2_offset);
    const int32_t size = row->size, body = size & ~3;
    int32_t i;
    if (k.lo == -128 && k.hi == 127)
    {
        bmul8_loop_dsp(&k, off1, off2, row->input1, row->input2, row->output, size, 1);
    }
    else
    {
        bmul8_loop_dsp(&k, off1, off2, row->input1, row->input2, row->output, size, 0);
    }
    for (i = body; i < size; i++)
    {
        row->output[i] = bmul8_one(p, row->input1[i], row->input2[i]);
    }
}

#endif

/* The row function for these dims and params, chosen once. */
static mcuq_broadcast_row_fn bmul8_row_fn(const mcuq_mul_params *params, const mcuq_broadcast_dims *dims)
{
#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
    const int along = dims->input1.c == dims->output.c && dims->input2.c == dims->output.c;
    if (along && bmul8_fast_ok(params))
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
