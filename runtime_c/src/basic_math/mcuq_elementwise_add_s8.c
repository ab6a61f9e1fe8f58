/*
 * mcuq_elementwise_add_s8: int8 addition of two tensors of the same shape with different scales.
 *
 * Semantics of CMSIS-NN's arm_elementwise_add_s8 (TFLite int8 Add): both inputs are offset and
 * shifted left by left_shift (20) so that rescaling them to a common scale (twice the larger input
 * scale) keeps the precision, summed, then requantized to the output:
 *   a = requantize((in1 + input1_offset) << left_shift, input1 multiplier, input1 shift)
 *   b = requantize((in2 + input2_offset) << left_shift, input2 multiplier, input2 shift)
 *   out = clamp(requantize(a + b, output multiplier, output shift) + output_offset, act.min, act.max)
 * The output may be a channel slice of a wider tensor (dims->output_row_stride > dims->row_size).
 * In-place operation (a dense output == input1 or input2) is allowed.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_elementwise_add_s8(const mcuq_add_params *params,
                                             const mcuq_elementwise_dims *dims,
                                             const int8_t *input1,
                                             const int8_t *input2,
                                             int8_t *output)
{
    int32_t r, i;

    if (params == NULL || dims == NULL || input1 == NULL || input2 == NULL || output == NULL ||
        !mcuq_elementwise_dims_ok(dims) || !mcuq_activation_ok(&params->activation))
    {
        return MCUQ_ARG_ERROR;
    }
    /* (in + offset) is at most 255 in magnitude: shifting it left by up to 22 stays in int32. */
    if (params->left_shift < 0 || params->left_shift > 22 || params->input1_offset < -255 ||
        params->input1_offset > 255 || params->input2_offset < -255 || params->input2_offset > 255)
    {
        return MCUQ_ARG_ERROR;
    }

    for (r = 0; r < dims->rows; r++)
    {
        const int8_t *const in1 = input1 + (size_t)r * dims->row_size;
        const int8_t *const in2 = input2 + (size_t)r * dims->row_size;
        int8_t *const out = output + (size_t)r * dims->output_row_stride;
        for (i = 0; i < dims->row_size; i++)
        {
            const int32_t a = mcuq_requantize((in1[i] + params->input1_offset) * (1 << params->left_shift),
                                              params->input1_quant.multiplier, params->input1_quant.shift);
            const int32_t b = mcuq_requantize((in2[i] + params->input2_offset) * (1 << params->left_shift),
                                              params->input2_quant.multiplier, params->input2_quant.shift);
            int32_t sum = mcuq_requantize(a + b, params->output_quant.multiplier, params->output_quant.shift);
            sum += params->output_offset;
            out[i] = (int8_t)mcuq_clamp_s32(sum, params->activation.min, params->activation.max);
        }
    }
    return MCUQ_OK;
}
