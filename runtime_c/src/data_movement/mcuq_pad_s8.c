/*
 * mcuq_pad_s8: constant padding of an int8 tensor of up to 4 dims (unused leading dims 1).
 * Output dim i = before[i] + dims[i] + after[i]; positions outside the input get pad_value (the
 * quantized constant, e.g. the zero point for real 0.0). Not in place.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_pad_s8(const mcuq_pad_params *params, const int8_t *input, int8_t *output)
{
    int32_t out_dims[4];
    int32_t i, d0, d1, d2;
    int64_t out_size = 1;

    if (params == NULL || input == NULL || output == NULL || input == output || params->pad_value < -128 ||
        params->pad_value > 127)
    {
        return MCUQ_ARG_ERROR;
    }
    for (i = 0; i < 4; i++)
    {
        if (params->dims[i] < 0 || params->before[i] < 0 || params->after[i] < 0)
        {
            return MCUQ_ARG_ERROR;
        }
        out_dims[i] = params->before[i] + params->dims[i] + params->after[i];
        out_size *= out_dims[i];
    }

    /* Fill everything, then copy the input rows (innermost dim) into place. */
    memset(output, (int8_t)params->pad_value, (size_t)out_size);
    for (d0 = 0; d0 < params->dims[0]; d0++)
    {
        for (d1 = 0; d1 < params->dims[1]; d1++)
        {
            for (d2 = 0; d2 < params->dims[2]; d2++)
            {
                const size_t out_row =
                    (((size_t)(d0 + params->before[0]) * out_dims[1] + (size_t)(d1 + params->before[1])) * out_dims[2] +
                     (size_t)(d2 + params->before[2])) * out_dims[3] + (size_t)params->before[3];
                const size_t in_row = (((size_t)d0 * params->dims[1] + d1) * params->dims[2] + d2) * params->dims[3];
                memcpy(output + out_row, input + in_row, (size_t)params->dims[3]);
            }
        }
    }
    return MCUQ_OK;
}
