/*
 * mcuq_fully_connected_s8: int8 fully connected layer with per-output-channel requantization.
 *
 * Semantics of CMSIS-NN's arm_fully_connected_s8 (per-channel variant, TFLite int8): for each batch
 * row b and output o,
 *   acc = bias[o] + sum_k (input[b, k] + input_offset) * filter[o, k]
 *   out[b, o] = clamp(requantize(acc, multiplier[o], shift[o]) + output_offset, act.min, act.max).
 * `bias` is mcuq's folded bias, bias[o] + input_offset * sum_k filter[o, k] (see mcuq_nn.h), so the
 * kernel sums raw input * filter products.
 *
 * Fast paths: DSP two outputs at a time, four inputs per step (SXTB16 unpacks the input word once for
 * both rows, SMLAD multiplies pairs); MVE sixteen inputs per VMLADAVA.S8 (the last step predicated,
 * zeros in the lanes past the end). Both requantize with mcuq_requantize_fast. The output is written
 * while the input is still read: fully connected never runs in place (mcuq/plan/inplace.py).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
/* All outputs of one batch row. Out of line, like every fast loop here (see MCUQ_MISC_NOINLINE). */
static MCUQ_MISC_NOINLINE void fc8_row_fast(const mcuq_fc_params *params, const mcuq_per_channel_quant *quant,
                                            const int8_t *x, const int8_t *filter, const int32_t *bias, int32_t depth,
                                            int32_t out_c, int8_t *out)
{
    int32_t o;
    for (o = 0; o < out_c; o++)
    {
        int32_t acc[2];
        int32_t j, pair;
        acc[0] = bias != NULL ? bias[o] : 0;
#if defined(MCUQ_PATH_MVE)
        pair = 1;
        acc[0] = mcuq_dot_s8_mve(x, filter + (size_t)o * depth, depth, acc[0]);
#else
        pair = o + 1 < out_c ? 2 : 1;
        acc[1] = bias != NULL && pair == 2 ? bias[o + 1] : 0;
        mcuq_dot2_s8(x, filter + (size_t)o * depth, filter + (size_t)(o + pair - 1) * depth, depth, acc);
#endif
        for (j = 0; j < pair; j++)
        {
            const int32_t r = mcuq_requantize_fast(acc[j], quant->multiplier[o + j], quant->shift[o + j]) +
                              params->output_offset;
            out[o + j] = (int8_t)mcuq_clamp_s32(r, params->activation.min, params->activation.max);
        }
        o += pair - 1;
    }
}

#endif

MCUQ_API mcuq_status mcuq_fully_connected_s8(const mcuq_fc_params *params,
                                             const mcuq_per_channel_quant *quant,
                                             const mcuq_fc_dims *dims,
                                             const int8_t *input,
                                             const int8_t *filter,
                                             const int32_t *bias,
                                             int8_t *output)
{
    int32_t batch, o, k;

    if (params == NULL || quant == NULL || dims == NULL || input == NULL || filter == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->input_offset < -127 || params->input_offset > 128 || !mcuq_activation_ok(&params->activation) ||
        !mcuq_fc_dims_ok(dims))
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t depth = dims->input_depth;
        const int32_t out_c = dims->output_depth;
        for (batch = 0; batch < dims->batches; batch++)
        {
            const int8_t *const x = input + (size_t)batch * depth;
#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
            fc8_row_fast(params, quant, x, filter, bias, depth, out_c, output + (size_t)batch * out_c);
            o = out_c;
#else
            o = 0;
#endif
            for (; o < out_c; o++)
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
