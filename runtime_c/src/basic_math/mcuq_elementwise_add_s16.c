/*
 * mcuq_elementwise_add_s16: addition of two int16 tensors of the same shape with different scales
 * (TFLite 16x8).
 *
 * Semantics of CMSIS-NN's arm_elementwise_add_s16 (TFLite int16 Add): the int8 maths with a left
 * shift of 15 and no offsets (symmetric tensors):
 *   a = requantize(in1 << 15, input1 multiplier, input1 shift)
 *   b = requantize(in2 << 15, input2 multiplier, input2 shift)
 *   out = clamp(requantize(a + b, output multiplier, output shift), act.min, act.max)
 * |in| <= 2^15, so in << 15 fits int32. In-place operation (output == input1 or input2) is allowed.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_elementwise_add_s16(const mcuq_add_params *params,
                                              const int16_t *input1,
                                              const int16_t *input2,
                                              int16_t *output,
                                              int32_t size)
{
    int32_t i;

    if (params == NULL || input1 == NULL || input2 == NULL || output == NULL || size < 0 ||
        !mcuq_activation_s16_ok(&params->activation) || params->left_shift != 15 || params->input1_offset != 0 ||
        params->input2_offset != 0 || params->output_offset != 0)
    {
        return MCUQ_ARG_ERROR;
    }

    for (i = 0; i < size; i++)
    {
        const int32_t a = mcuq_requantize(mcuq_shl_wrap_s32(input1[i], 15), params->input1_quant.multiplier,
                                          params->input1_quant.shift);
        const int32_t b = mcuq_requantize(mcuq_shl_wrap_s32(input2[i], 15), params->input2_quant.multiplier,
                                          params->input2_quant.shift);
        const int32_t sum = mcuq_requantize(a + b, params->output_quant.multiplier, params->output_quant.shift);
        output[i] = (int16_t)mcuq_clamp_s32(sum, params->activation.min, params->activation.max);
    }
    return MCUQ_OK;
}
