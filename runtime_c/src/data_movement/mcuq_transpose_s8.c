/*
 * mcuq_transpose_s8: permute the axes of an int8 tensor of up to 4 dims (unused leading dims 1).
 * output dim i = input dim perm[i]; output[o0][o1][o2][o3] = input[index with axis perm[i] = oi].
 * Not in place.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_transpose_s8(const mcuq_transpose_params *params, const int8_t *input, int8_t *output)
{
    int32_t in_stride[4];
    int32_t out_dims[4];
    int32_t step[4]; /* input stride of each output axis */
    int32_t i, seen = 0;
    int32_t o0, o1, o2, o3;

    if (params == NULL || input == NULL || output == NULL || input == output)
    {
        return MCUQ_ARG_ERROR;
    }
    for (i = 0; i < 4; i++)
    {
        if (params->dims[i] < 0 || params->perm[i] < 0 || params->perm[i] > 3 || (seen & (1 << params->perm[i])))
        {
            return MCUQ_ARG_ERROR;
        }
        seen |= 1 << params->perm[i];
    }

    in_stride[3] = 1;
    for (i = 2; i >= 0; i--)
    {
        in_stride[i] = in_stride[i + 1] * params->dims[i + 1];
    }
    for (i = 0; i < 4; i++)
    {
        out_dims[i] = params->dims[params->perm[i]];
        step[i] = in_stride[params->perm[i]];
    }

    for (o0 = 0; o0 < out_dims[0]; o0++)
    {
        for (o1 = 0; o1 < out_dims[1]; o1++)
        {
            for (o2 = 0; o2 < out_dims[2]; o2++)
            {
                const int8_t *src = input + (size_t)o0 * step[0] + (size_t)o1 * step[1] + (size_t)o2 * step[2];
                for (o3 = 0; o3 < out_dims[3]; o3++)
                {
                    *output++ = src[(size_t)o3 * step[3]];
                }
            }
        }
    }
    return MCUQ_OK;
}
