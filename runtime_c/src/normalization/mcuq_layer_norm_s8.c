/*
 * mcuq_layer_norm_s8: LayerNormalization over the last axis, int8 in and out, integer statistics.
 *
 * Per row of C features (mcuq.qir.LayerNormParams, mcuq.golden.s8.layer_norm_rows):
 *   v = in + input_offset                      int32, |v| <= 256
 *   sum = sum v, sum2 = sum v^2                int32 (C <= 32767: sum2 < 2^31)
 *   var = C sum2 - sum^2 + epsilon             int64, C^2 (variance + eps) in units of v^2
 *   m = var * 2^e in [2^30, 2^32), e even      (floored when e < 0): 16 significant bits of root
 *   root = isqrt(m), r = round(2^31 / root)    root in [2^15, 2^16), r <= 2^16
 *   n = (d r + half) >> (15 - e/2)             d = C v - sum; (v - mean) / std in Q16, rounded half up
 *   z = requantize(n, quant[c]) + bias[c]      gamma and beta, 8 fractional bits of the output kept
 *   out = clamp(((z + 128) >> 8) + output_offset)
 * No division but one 32-bit one per row; the square root is the bitwise integer one on 32 bits. In place: the
 * statistics read the whole row before any of its outputs is written, then element c is read before it
 * is overwritten.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

#define MCUQ_LAYER_NORM_MAX_ROW 32767

/* floor(sqrt(x)), digit by digit: shifts, compares and subtractions only. */
static uint32_t layer_norm_isqrt(uint32_t x)
{
    uint32_t root = 0, bit = (uint32_t)1 << 30;
    while (bit != 0)
    {
        if (x >= root + bit)
        {
            x -= root + bit;
            root = (root >> 1) + bit;
        }
        else
        {
            root >>= 1;
        }
        bit >>= 2;
    }
    return root;
}

/* var * 2^e in [2^30, 2^32) with e even (floored for e < 0); writes e / 2. */
static uint32_t layer_norm_normalized(uint64_t var, int32_t *half_e)
{
    int32_t half = 0;
    while (var < ((uint64_t)1 << 30))
    {
        var <<= 2;
        half++;
    }
    while (var >= ((uint64_t)1 << 32))
    {
        var >>= 2;
        half--;
    }
    *half_e = half;
    return (uint32_t)var;
}

static void layer_norm_row(const mcuq_layer_norm_params *params, const mcuq_per_channel_quant *quant,
                           const int32_t *bias, const int8_t *input, int8_t *output)
{
    const int32_t size = params->row_size;
    int32_t sum = 0, sum2 = 0, c;
    for (c = 0; c < size; c++)
    {
        const int32_t v = (int32_t)input[c] + params->input_offset;
        sum += v;
        sum2 += v * v;
    }
    {
        const int64_t var = (int64_t)size * sum2 - (int64_t)sum * sum + params->epsilon;
        int32_t half_e;
        const uint32_t root = layer_norm_isqrt(layer_norm_normalized((uint64_t)var, &half_e));
        const int32_t reciprocal = (int32_t)((((uint32_t)1 << 31) + root / 2) / root);
        const int32_t down = 15 - half_e;
        const int64_t half = ((int64_t)1 << down) >> 1;
        for (c = 0; c < size; c++)
        {
            const int32_t d = size * ((int32_t)input[c] + params->input_offset) - sum;
            const int32_t n = (int32_t)(((int64_t)d * reciprocal + half) >> down);
            const int64_t z = (int64_t)mcuq_requantize(n, quant->multiplier[c], quant->shift[c]) + bias[c];
            const int64_t out = ((z + 128) >> 8) + params->output_offset;
            output[c] = (int8_t)(out < -128 ? -128 : (out > 127 ? 127 : out));
        }
    }
}

MCUQ_API mcuq_status mcuq_layer_norm_s8(const mcuq_layer_norm_params *params,
                                        const mcuq_per_channel_quant *quant,
                                        const int32_t *bias,
                                        const int8_t *input,
                                        int8_t *output)
{
    int32_t r;

    if (params == NULL || quant == NULL || quant->multiplier == NULL || quant->shift == NULL || bias == NULL ||
        input == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->input_offset < -128 || params->input_offset > 128 || params->epsilon < 1 || params->rows < 0 ||
        params->row_size < 1 || params->row_size > MCUQ_LAYER_NORM_MAX_ROW)
    {
        return MCUQ_ARG_ERROR;
    }
    for (r = 0; r < params->rows; r++)
    {
        const size_t offset = (size_t)r * (size_t)params->row_size;
        layer_norm_row(params, quant, bias, input + offset, output + offset);
    }
    return MCUQ_OK;
}
