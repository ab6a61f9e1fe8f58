/*
 * mcuq_depthwise_conv_s16: depthwise 2-D convolution with int16 activations and int8 weights (TFLite
 * 16x8), channel multiplier, dilation and asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_depthwise_conv_s16: output channel oc = c * ch_mult + m reads input
 * channel c; filter layout [1, KH, KW, C_out];
 *   acc = bias[oc] + sum over the in-bounds window of input * filter     (int64)
 *   out = clamp(mcuq_requantize_s64(acc, multiplier[oc], shift[oc]), act.min, act.max).
 * Offsets must be 0 (symmetric int16 tensors). Direct loops, no scratch buffer.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_depthwise_conv_s16(const mcuq_dw_conv_params *params,
                                             const mcuq_per_channel_quant *quant,
                                             const mcuq_dims *input_dims,
                                             const int16_t *input,
                                             const mcuq_dims *filter_dims,
                                             const int8_t *filter,
                                             const int64_t *bias,
                                             const mcuq_dims *output_dims,
                                             int16_t *output)
{
    int32_t batch, out_y, out_x, ky, kx, oc;

    if (params == NULL || quant == NULL || input_dims == NULL || input == NULL || filter_dims == NULL ||
        filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->ch_mult < 1 || params->input_offset != 0 || params->output_offset != 0 ||
        !mcuq_activation_s16_ok(&params->activation) || mcuq_dims_size(filter_dims) < 0 ||
        output_dims->c != input_dims->c * params->ch_mult || filter_dims->c != output_dims->c ||
        !mcuq_conv_window_ok(&params->stride, &params->dilation, &params->padding, input_dims, filter_dims->h,
                             filter_dims->w, output_dims) ||
        !mcuq_s16_shifts_ok(quant->shift, output_dims->c))
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
        const int32_t k_w = filter_dims->w;
        const int32_t out_c = output_dims->c;

        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int16_t *const in_batch = input + (size_t)batch * in_h * in_w * in_c;
            for (out_y = 0; out_y < output_dims->h; out_y++)
            {
                const int32_t base_y = out_y * params->stride.h - params->padding.top;
                int32_t ky0, ky1;
                mcuq_window_tap_range(base_y, params->dilation.h, filter_dims->h, in_h, &ky0, &ky1);
                for (out_x = 0; out_x < output_dims->w; out_x++)
                {
                    const int32_t base_x = out_x * params->stride.w - params->padding.left;
                    int16_t *out_pixel = output + (((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) * out_c;
                    int32_t kx0, kx1;
                    mcuq_window_tap_range(base_x, params->dilation.w, k_w, in_w, &kx0, &kx1);

                    for (oc = 0; oc < out_c; oc++)
                    {
                        const int32_t c = oc / params->ch_mult;
                        int64_t acc = bias != NULL ? bias[oc] : 0;
                        int32_t result;
                        for (ky = ky0; ky < ky1; ky++)
                        {
                            const int32_t in_y = base_y + ky * params->dilation.h;
                            const int16_t *in_row = in_batch + (size_t)in_y * in_w * in_c + c;
                            const int8_t *f_row = filter + (size_t)ky * k_w * out_c + oc;
                            for (kx = kx0; kx < kx1; kx++)
                            {
                                const int32_t in_x = base_x + kx * params->dilation.w;
                                acc += (int32_t)in_row[(size_t)in_x * in_c] * (int32_t)f_row[(size_t)kx * out_c];
                            }
                        }
                        result = mcuq_requantize_s64(acc, quant->multiplier[oc], quant->shift[oc]);
                        out_pixel[oc] = (int16_t)mcuq_clamp_s32(result, params->activation.min, params->activation.max);
                    }
                }
            }
        }
    }
    return MCUQ_OK;
}
