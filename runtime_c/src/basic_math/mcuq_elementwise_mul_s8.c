/*
 * mcuq_elementwise_mul_s8: int8 multiplication of two tensors of the same shape.
 *
 * Semantics of CMSIS-NN's arm_elementwise_mul_s8 (TFLite int8 Mul):
 *   out = clamp(requantize((in1 + input1_offset) * (in2 + input2_offset), output multiplier,
 *               output shift) + output_offset, act.min, act.max)
 * with the multiplier for s1 * s2 / s_out. The output may be a channel slice of a wider tensor
 * (dims->output_row_stride > dims->row_size). In-place operation (a dense output) is allowed.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_elementwise_mul_s8(const mcuq_mul_params *params,
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

    for (r = 0; r < dims->rows; r++)
    {
        const int8_t *const in1 = input1 + (size_t)r * dims->row_size;
        const int8_t *const in2 = input2 + (size_t)r * dims->row_size;
        int8_t *const out = output + (size_t)r * dims->output_row_stride;
        for (i = 0; i < dims->row_size; i++)
        {
            const int32_t prod = (in1[i] + params->input1_offset) * (in2[i] + params->input2_offset);
            int32_t res = mcuq_requantize(prod, params->output_quant.multiplier, params->output_quant.shift);
            res += params->output_offset;
            out[i] = (int8_t)mcuq_clamp_s32(res, params->activation.min, params->activation.max);
        }
    }
    return MCUQ_OK;
}
