/*
 * mcuq_concat_s8: copy one input of a concatenation into its slice of the output.
 *
 * The output is seen as [outer, out_axis_size, inner] and the input as [outer, axis_size, inner];
 * the input goes to axis positions [axis_offset, axis_offset + axis_size). Called once per input.
 * An input whose quantization equals the output's is copied (quant.multiplier == 0); otherwise each
 * element is requantized to the output as
 *   out = clamp(requantize(in + input_offset, multiplier, shift) + output_offset, -128, 127).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_concat_s8(const mcuq_concat_params *params, const int8_t *input, int8_t *output)
{
    int32_t o, i;

    if (params == NULL || input == NULL || output == NULL || params->outer < 0 || params->inner < 0 ||
        params->axis_size < 0 || params->axis_offset < 0 ||
        params->axis_offset + params->axis_size > params->out_axis_size)
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t block = params->axis_size * params->inner;
        for (o = 0; o < params->outer; o++)
        {
            const int8_t *const src = input + (size_t)o * block;
            int8_t *const dst = output + ((size_t)o * params->out_axis_size + params->axis_offset) * params->inner;
            if (params->quant.multiplier == 0)
            {
                memcpy(dst, src, (size_t)block);
            }
            else
            {
                for (i = 0; i < block; i++)
                {
                    const int32_t v = mcuq_requantize(src[i] + params->input_offset, params->quant.multiplier,
                                                      params->quant.shift) + params->output_offset;
                    dst[i] = (int8_t)mcuq_clamp_s32(v, -128, 127);
                }
            }
        }
    }
    return MCUQ_OK;
}
