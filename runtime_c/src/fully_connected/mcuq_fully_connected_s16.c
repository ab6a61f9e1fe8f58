/*
 * mcuq_fully_connected_s16: fully connected layer with int16 activations and int8 weights (TFLite 16x8).
 *
 * Semantics of CMSIS-NN's arm_fully_connected_s16 (int64 bias), with per-output-channel requantization
 * as mcuq's other weighted kernels: for each batch row b and output o,
 *   acc = bias[o] + sum_k input[b, k] * filter[o, k]     (int64)
 *   out[b, o] = clamp(mcuq_requantize_s64(acc, multiplier[o], shift[o]), act.min, act.max).
 * Offsets must be 0 (symmetric int16 tensors).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_fully_connected_s16(const mcuq_fc_params *params,
                                              const mcuq_per_channel_quant *quant,
                                              const mcuq_fc_dims *dims,
                                              const int16_t *input,
                                              const int8_t *filter,
                                              const int64_t *bias,
                                              int16_t *output)
{
    int32_t batch, o, k;

    if (params == NULL || quant == NULL || dims == NULL || input == NULL || filter == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->input_offset != 0 || params->output_offset != 0 || !mcuq_activation_s16_ok(&params->activation) ||
        !mcuq_fc_dims_ok(dims) || !mcuq_s16_shifts_ok(quant->shift, dims->output_depth))
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t depth = dims->input_depth;
        const int32_t out_c = dims->output_depth;
        for (batch = 0; batch < dims->batches; batch++)
        {
            const int16_t *const x = input + (size_t)batch * depth;
            for (o = 0; o < out_c; o++)
            {
                const int8_t *const w = filter + (size_t)o * depth;
                int64_t acc = bias != NULL ? bias[o] : 0;
                int32_t result;
                for (k = 0; k < depth; k++)
                {
                    acc += (int32_t)x[k] * (int32_t)w[k];
                }
                result = mcuq_requantize_s64(acc, quant->multiplier[o], quant->shift[o]);
                output[(size_t)batch * out_c + o] =
                    (int16_t)mcuq_clamp_s32(result, params->activation.min, params->activation.max);
            }
        }
    }
    return MCUQ_OK;
}
