/*
 * mcuq_fully_connected_s8: int8 fully connected layer with per-output-channel requantization.
 *
 * Semantics of CMSIS-NN's arm_fully_connected_s8 (per-channel variant, TFLite int8): for each batch
 * row b and output o,
 *   acc = bias[o] + sum_k (input[b, k] + input_offset) * filter[o, k]
 *   out[b, o] = clamp(requantize(acc, multiplier[o], shift[o]) + output_offset, act.min, act.max).
 * `bias` is mcuq's folded bias, bias[o] + input_offset * sum_k filter[o, k] (see mcuq_nn.h), so the
 * kernel sums raw input * filter products.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_fully_connected_s8(const mcuq_fc_params *params,
                                             const mcuq_per_channel_quant *quant,
                                             const mcuq_dims *input_dims,
                                             const int8_t *input,
                                             const mcuq_dims *filter_dims,
                                             const int8_t *filter,
                                             const int32_t *bias,
                                             const mcuq_dims *output_dims,
                                             int8_t *output)
{
    int32_t batch, o, k;

    if (params == NULL || quant == NULL || input_dims == NULL || input == NULL || filter_dims == NULL ||
        filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->input_offset < -127 || params->input_offset > 128 || !mcuq_activation_ok(&params->activation) || mcuq_dims_size(input_dims) < 0 ||
        mcuq_dims_size(filter_dims) < 0 || mcuq_dims_size(output_dims) < 0 || input_dims->h != 1 ||
        input_dims->w != 1 || filter_dims->n != input_dims->c || output_dims->c != filter_dims->c ||
        output_dims->n != input_dims->n)
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t depth = input_dims->c;
        const int32_t out_c = output_dims->c;
        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int8_t *const x = input + (size_t)batch * depth;
            for (o = 0; o < out_c; o++)
            {
                const int8_t *const w = filter + (size_t)o * depth;
                int32_t acc = bias != NULL ? bias[o] : 0;
                for (k = 0; k < depth; k++)
                {
                    acc += (int32_t)x[k] * (int32_t)w[k];
                }
                acc = mcuq_requantize(acc, quant->multiplier[o], quant->shift[o]) + params->output_offset;
                output[(size_t)batch * out_c + o] =
                    (int8_t)mcuq_clamp_s32(acc, params->activation.min, params->activation.max);
            }
        }
    }
    return MCUQ_OK;
}
