/*
 * mcuq_requantize_s8_s16: an int8 tensor to an int16 one (a precision boundary of a mixed-precision
 * model), as TFLite's Quantize op between them (reference_ops::Requantize):
 *   out = clamp(requantize(in + input_offset, quant) + output_offset, -32768, 32767)
 * with the 32-bit requantization of the int8 kernels (arm_nn_requantize, which equals TFLite's
 * MultiplyByQuantizedMultiplier). |in + input_offset| <= 255, so a left shift of up to 23 stays in int32.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_requantize_s8_s16(const mcuq_requantize_params *params,
                                            const int8_t *input,
                                            int16_t *output,
                                            int32_t size)
{
    int32_t i;

    if (params == NULL || input == NULL || output == NULL || size < 0 || params->input_offset < -255 ||
        params->input_offset > 255 || params->quant.shift < -31 || params->quant.shift > 23)
    {
        return MCUQ_ARG_ERROR;
    }
    for (i = 0; i < size; i++)
    {
        const int32_t value = mcuq_requantize(input[i] + params->input_offset, params->quant.multiplier,
                                              params->quant.shift) + params->output_offset;
        output[i] = (int16_t)mcuq_clamp_s32(value, -32768, 32767);
    }
    return MCUQ_OK;
}
