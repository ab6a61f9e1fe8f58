/*
 * mcuq_requantize_s16_s8: an int16 tensor to an int8 one (a precision boundary of a mixed-precision
 * model), as TFLite's Quantize op between them (reference_ops::Requantize):
 *   out = clamp(requantize(in + input_offset, quant) + output_offset, -128, 127)
 * with the 32-bit requantization of the int8 kernels. A left shift of up to 15 keeps an int16 value
 * within int32.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_requantize_s16_s8(const mcuq_requantize_params *params,
                                            const int16_t *input,
                                            int8_t *output,
                                            int32_t size)
{
    int32_t i;

    if (params == NULL || input == NULL || output == NULL || size < 0 || params->input_offset != 0 ||
        params->quant.shift < -31 || params->quant.shift > 15)
    {
        return MCUQ_ARG_ERROR;
    }
    for (i = 0; i < size; i++)
    {
        const int32_t value = mcuq_requantize(input[i], params->quant.multiplier, params->quant.shift) +
                              params->output_offset;
        output[i] = (int8_t)mcuq_clamp_s32(value, -128, 127);
    }
    return MCUQ_OK;
}
