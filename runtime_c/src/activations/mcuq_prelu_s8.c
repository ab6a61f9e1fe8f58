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
 * operation (a dense output) is allowed.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_prelu_s8(const mcuq_prelu_params *params,
                                   const mcuq_per_channel_quant *negative_quant,
                                   const mcuq_elementwise_dims *dims,
                                   const int8_t *input,
                                   int8_t *output)
{
    int32_t r, c;

    if (params == NULL || negative_quant == NULL || negative_quant->multiplier == NULL ||
        negative_quant->shift == NULL || dims == NULL || input == NULL || output == NULL ||
        !mcuq_elementwise_dims_ok(dims) || params->input_offset < -255 || params->input_offset > 255 ||
        params->positive_quant.shift < -31 || params->positive_quant.shift > 30 ||
        !mcuq_shifts_within(negative_quant->shift, dims->row_size, -31, 30))
    {
        return MCUQ_ARG_ERROR;
    }
    for (r = 0; r < dims->rows; r++)
    {
        const int8_t *const in = input + (size_t)r * dims->row_size;
        int8_t *const out = output + (size_t)r * dims->output_row_stride;
        for (c = 0; c < dims->row_size; c++)
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
    return MCUQ_OK;
}
