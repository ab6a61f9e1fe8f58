/*
 * mcuq_slice_s8: copies a box (with steps) of an int8 tensor of up to 4 dims (unused leading dims 1):
 * output[i0][i1][i2][i3] = input[begin[0] + i0*step[0]]...[begin[3] + i3*step[3]]. Rows of the innermost
 * dim with step 1 are one memcpy each; rows are written output_pixel_stride elements apart (a channel slice
 * of a Concat's output when more than the last dim). Not in place.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

/* Whether the box of axis i lies inside the input: begin >= 0, step >= 1, last index < dim. */
static int slice_axis_fits(const mcuq_slice_params *params, int32_t i)
{
    const int32_t begin = params->begin[i];
    const int32_t size = params->output_dims[i];
    if (begin < 0 || params->step[i] < 1 || size < 0 || params->input_dims[i] < 0)
    {
        return 0;
    }
    return size == 0 || (int64_t)begin + (int64_t)(size - 1) * params->step[i] < params->input_dims[i];
}

MCUQ_API mcuq_status mcuq_slice_s8(const mcuq_slice_params *params, const int8_t *input, int8_t *output)
{
    const int32_t *in_dims;
    const int32_t *out_dims;
    int32_t i, d0, d1, d2, d3;

    if (params == NULL || input == NULL || output == NULL || input == output ||
        params->output_pixel_stride < params->output_dims[3])
    {
        return MCUQ_ARG_ERROR;
    }
    for (i = 0; i < 4; i++)
    {
        if (!slice_axis_fits(params, i))
        {
            return MCUQ_ARG_ERROR;
        }
    }
    in_dims = params->input_dims;
    out_dims = params->output_dims;
    for (d0 = 0; d0 < out_dims[0]; d0++)
    {
        for (d1 = 0; d1 < out_dims[1]; d1++)
        {
            for (d2 = 0; d2 < out_dims[2]; d2++)
            {
                const size_t in_row =
                    (((size_t)(params->begin[0] + d0 * params->step[0]) * in_dims[1] +
                      (size_t)(params->begin[1] + d1 * params->step[1])) * in_dims[2] +
                     (size_t)(params->begin[2] + d2 * params->step[2])) * in_dims[3] + (size_t)params->begin[3];
                const int8_t *src = input + in_row;
                if (params->step[3] == 1)
                {
                    memcpy(output, src, (size_t)out_dims[3]);
                }
                else
                {
                    for (d3 = 0; d3 < out_dims[3]; d3++)
                    {
                        output[d3] = src[(size_t)d3 * params->step[3]];
                    }
                }
                output += params->output_pixel_stride;
            }
        }
    }
    return MCUQ_OK;
}
