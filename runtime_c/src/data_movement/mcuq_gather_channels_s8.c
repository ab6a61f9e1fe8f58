/*
 * mcuq_gather_channels_s8: per pixel, output channel c = input channel indices[c]. ShuffleNet's channel
 * shuffle (a permutation: output grid = input grid, no requantization) and Gather of a list of
 * channels. The indices are checked once; the inner loop is a plain table walk. Output pixels are
 * output_pixel_stride elements apart (a channel slice of a Concat's output when more). Not in place.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_gather_channels_s8(const mcuq_gather_channels_params *params,
                                             const int32_t *indices,
                                             const int8_t *input,
                                             int8_t *output)
{
    int32_t p, c;

    if (params == NULL || indices == NULL || input == NULL || output == NULL || input == output ||
        params->pixels < 0 || params->input_channels < 1 || params->output_channels < 0 ||
        params->output_pixel_stride < params->output_channels)
    {
        return MCUQ_ARG_ERROR;
    }
    for (c = 0; c < params->output_channels; c++)
    {
        if (indices[c] < 0 || indices[c] >= params->input_channels)
        {
            return MCUQ_ARG_ERROR;
        }
    }
    for (p = 0; p < params->pixels; p++)
    {
        for (c = 0; c < params->output_channels; c++)
        {
            output[c] = input[indices[c]];
        }
        input += params->input_channels;
        output += params->output_pixel_stride;
    }
    return MCUQ_OK;
}
