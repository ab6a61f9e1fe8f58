/*
 * mcuq_prelu_s8: PReLU with one slope per channel (torch.nn.PReLU(C)), channels last.
 *
 *   v = in + input_offset
 *   out = clamp((v >= 0 ? requantize(v, positive) : requantize(v, negative[c])) + output_offset, int8)
 *
 * The slope is folded into the negative side's multiplier (s_in * slope[c] / s_out, as Python's Prepare
 * computes it), so 8 bytes per channel of flash instead of a 256-byte table per channel, and one rounding
 * (TFLite's PRelu quantizes the slope to int8 first, a second rounding). A single slope for all channels
 * is a LeakyRelu, which mcuq runs as a table. Rows are pixels: element i of a row is channel i. The
 * output may be a channel slice of a wider tensor (dims->output_row_stride > dims->row_size); in-place
 * operation (a dense output) is allowed: each element is read before it is written.
 *
 * MVE (Cortex-M55): four channels per vector, the tail predicated. No DSP path: the per-element branch
 * and two requantizations have no SIMD32 form, and mcuq_requantize_rshift's one-SMLAL form needs a
 * non-negative multiplier (a negative slope gives a negative one).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

#if defined(MCUQ_PATH_MVE)
/* Four channels of a row: both requantizations by mcuq_requantize_mve (exact for negative multipliers
 * too, INT32_MIN excepted, which the entry refuses), the pick by the sign, then the offset added with
 * saturation, which the int8 clamp makes equal to the portable path's 64-bit sum. */
static void prelu_row_mve(const mcuq_prelu_params *params, const mcuq_per_channel_quant *negative_quant,
                          const int8_t *in, int8_t *out, int32_t channels)
{
    const int32x4_t pos_mult = vdupq_n_s32(params->positive_quant.multiplier);
    const int32x4_t pos_shift = vdupq_n_s32(params->positive_quant.shift);
    const int32x4_t offset = vdupq_n_s32(params->input_offset);
    const int32x4_t zero_point = vdupq_n_s32(params->output_offset);
    int32_t c;
    for (c = 0; c < channels; c += 4)
    {
        const mve_pred16_t p = vctp32q((uint32_t)(channels - c));
        const int32x4_t v = vaddq_s32(vldrbq_z_s32(in + c, p), offset);
        const int32x4_t pos = mcuq_requantize_mve(v, pos_mult, pos_shift);
        const int32x4_t neg = mcuq_requantize_mve(v, vldrwq_z_s32(negative_quant->multiplier + c, p),
                                                  vldrwq_z_s32(negative_quant->shift + c, p));
        const int32x4_t res = vqaddq_s32(vpselq_s32(pos, neg, vcmpgeq_n_s32(v, 0)), zero_point);
        vstrbq_p_s32(out + c, vmaxq_s32(vminq_s32(res, vdupq_n_s32(127)), vdupq_n_s32(-128)), p);
    }
}
#define PRELU_ROW prelu_row_mve
#else
/* The portable reference over one pixel's row of channels. */
static void prelu_row_portable(const mcuq_prelu_params *params, const mcuq_per_channel_quant *negative_quant,
                               const int8_t *in, int8_t *out, int32_t channels)
{
    int32_t c;
    for (c = 0; c < channels; c++)
    {
        const int32_t v = in[c] + params->input_offset;
        const int32_t res = v >= 0
            ? mcuq_requantize(v, params->positive_quant.multiplier, params->positive_quant.shift)
            : mcuq_requantize(v, negative_quant->multiplier[c], negative_quant->shift[c]);
        /* In 64 bits: a requantized value near INT32_MAX plus the offset must saturate, not wrap. */
        const int64_t shifted = (int64_t)res + params->output_offset;
        out[c] = (int8_t)(shifted < -128 ? -128 : shifted > 127 ? 127 : shifted);
    }
}
#define PRELU_ROW prelu_row_portable
#endif

/* Every negative-side multiplier other than INT32_MIN (VQRDMULH would saturate INT32_MIN * INT32_MIN). */
static int prelu_multipliers_ok(const int32_t *multiplier, int32_t channels)
{
    int32_t c;
    for (c = 0; c < channels; c++)
    {
        if (multiplier[c] == INT32_MIN)
        {
            return 0;
        }
    }
    return 1;
}

MCUQ_API mcuq_status mcuq_prelu_s8(const mcuq_prelu_params *params,
                                   const mcuq_per_channel_quant *negative_quant,
                                   const mcuq_elementwise_dims *dims,
                                   const int8_t *input,
                                   int8_t *output)
{
    int32_t r;

    if (params == NULL || negative_quant == NULL || negative_quant->multiplier == NULL ||
        negative_quant->shift == NULL || dims == NULL || input == NULL || output == NULL ||
        !mcuq_elementwise_dims_ok(dims) || params->input_offset < -255 || params->input_offset > 255 ||
        params->positive_quant.shift < -31 || params->positive_quant.shift > 30 ||
        params->positive_quant.multiplier == INT32_MIN ||
        !mcuq_shifts_within(negative_quant->shift, dims->row_size, -31, 30) ||
        !prelu_multipliers_ok(negative_quant->multiplier, dims->row_size))
    {
        return MCUQ_ARG_ERROR;
    }
    for (r = 0; r < dims->rows; r++)
    {
        PRELU_ROW(params, negative_quant, input + (size_t)r * dims->row_size,
                  output + (size_t)r * dims->output_row_stride, dims->row_size);
    }
    return MCUQ_OK;
}
