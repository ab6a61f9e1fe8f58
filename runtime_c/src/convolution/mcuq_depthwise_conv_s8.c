/*
 * mcuq_depthwise_conv_s8: int8 depthwise 2-D convolution with channel multiplier, dilation and
 * asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_depthwise_conv_s8 (TFLite int8): output channel oc = c * ch_mult + m
 * reads input channel c; filter layout [1, KH, KW, C_out];
 *   acc = bias[oc] + sum over the in-bounds window of (input + input_offset) * filter
 *   out = clamp(requantize(acc, multiplier[oc], shift[oc]) + output_offset, act.min, act.max).
 * Padded positions contribute 0 (the input zero point). `bias` is mcuq's folded bias,
 * bias[oc] + input_offset * sum(filter[.., oc]) (see mcuq_nn.h): the kernel sums raw input * filter
 * products, and a padded tap adds zero_point * filter = -input_offset * filter.
 *
 * Direct loops, no scratch buffer: the window bounds are clipped once per output pixel so that the
 * innermost loops carry no bounds test; the taps in the padding are summed apart, per channel.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API int32_t mcuq_depthwise_conv_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    (void)input_dims;
    (void)filter_dims;
    return 0;
}

MCUQ_API mcuq_status mcuq_depthwise_conv_s8(const mcuq_context *ctx,
                                            const mcuq_dw_conv_params *params,
                                            const mcuq_per_channel_quant *quant,
                                            const mcuq_dims *input_dims,
                                            const int8_t *input,
                                            const mcuq_dims *filter_dims,
                                            const int8_t *filter,
                                            const int32_t *bias,
                                            const mcuq_dims *output_dims,
                                            int8_t *output)
{
    int32_t batch, out_y, out_x, ky, kx, c, m;

    (void)ctx; /* no scratch needed */
    if (params == NULL || quant == NULL || input_dims == NULL || input == NULL || filter_dims == NULL ||
        filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->input_offset < -127 || params->input_offset > 128 || params->ch_mult < 1 || !mcuq_activation_ok(&params->activation) || mcuq_dims_size(filter_dims) < 0 ||
        output_dims->c != input_dims->c * params->ch_mult || filter_dims->c != output_dims->c ||
        params->output_pixel_stride < output_dims->c ||
        !mcuq_conv_window_ok(&params->stride, &params->dilation, &params->padding, input_dims, filter_dims->h,
                             filter_dims->w, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
        const int32_t k_w = filter_dims->w;
        const int32_t out_c = output_dims->c;
        const int32_t out_stride = params->output_pixel_stride;
        const int32_t ch_mult = params->ch_mult;

        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int8_t *const in_batch = input + (size_t)batch * in_h * in_w * in_c;
            for (out_y = 0; out_y < output_dims->h; out_y++)
            {
                const int32_t base_y = out_y * params->stride.h - params->padding.top;
                int32_t ky0, ky1;
                mcuq_window_tap_range(base_y, params->dilation.h, filter_dims->h, in_h, &ky0, &ky1);
                for (out_x = 0; out_x < output_dims->w; out_x++)
                {
                    const int32_t base_x = out_x * params->stride.w - params->padding.left;
                    int8_t *out_pixel =
                        output + (((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) * out_stride;
                    int32_t kx0, kx1;
                    mcuq_window_tap_range(base_x, params->dilation.w, k_w, in_w, &kx0, &kx1);

                    for (c = 0; c < in_c; c++)
                    {
                        for (m = 0; m < ch_mult; m++)
                        {
                            const int32_t oc = c * ch_mult + m;
                            int32_t acc = bias != NULL ? bias[oc] : 0;
                            int32_t padded_filter_sum = 0;
                            for (ky = 0; ky < filter_dims->h; ky++)
                            {
                                const int32_t in_y = base_y + ky * params->dilation.h;
                                const int8_t *f_row = filter + (size_t)ky * k_w * out_c + oc;
                                for (kx = 0; kx < k_w; kx++)
                                {
                                    if (ky < ky0 || ky >= ky1 || kx < kx0 || kx >= kx1)
                                    {
                                        padded_filter_sum += f_row[(size_t)kx * out_c];
                                        continue;
                                    }
                                    acc += (int32_t)in_batch[((size_t)in_y * in_w + (base_x + kx * params->dilation.w)) * in_c + c] *
                                           (int32_t)f_row[(size_t)kx * out_c];
                                }
                            }
                            acc -= params->input_offset * padded_filter_sum;
                            acc = mcuq_requantize(acc, quant->multiplier[oc], quant->shift[oc]) + params->output_offset;
                            out_pixel[oc] = (int8_t)mcuq_clamp_s32(acc, params->activation.min, params->activation.max);
                        }
                    }
                }
            }
        }
    }
    return MCUQ_OK;
}
