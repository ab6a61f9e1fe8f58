/*
 * mcuq_convolve_s16: 2-D convolution with int16 activations and int8 weights (TFLite 16x8), groups,
 * dilation and asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_convolve_s16 with an int64 bias: for every output element
 *   acc = bias[oc] + sum over the receptive field of input * filter     (int64; padding adds nothing)
 *   out = clamp(mcuq_requantize_s64(acc, multiplier[oc], shift[oc]), act.min, act.max)
 * CMSIS-NN sums the products in int32 before adding the int64 bias; that is the same value whenever
 * the int32 sum does not overflow, and this kernel is exact beyond that too. Offsets must be 0
 * (symmetric int16 tensors).
 *
 * Method: direct loops; the window is clipped to the input once per output pixel, so the inner loop
 * over a tap's input channels is a plain dot product. No scratch buffer.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

static int mcuq_convolve_s16_args_ok(const mcuq_conv_params *params,
                                     const mcuq_per_channel_quant *quant,
                                     const mcuq_dims *input_dims,
                                     const mcuq_dims *filter_dims,
                                     const mcuq_dims *output_dims)
{
    const int32_t groups = params->groups;
    if (groups < 1 || params->input_offset != 0 || params->output_offset != 0 ||
        !mcuq_activation_s16_ok(&params->activation) || mcuq_dims_size(filter_dims) < 0 || filter_dims->c < 1 ||
        input_dims->c != filter_dims->c * groups || output_dims->c != filter_dims->n || filter_dims->n % groups != 0)
    {
        return 0;
    }
    return mcuq_conv_window_ok(&params->stride, &params->dilation, &params->padding, input_dims, filter_dims->h,
                               filter_dims->w, output_dims) &&
           mcuq_s16_shifts_ok(quant->shift, output_dims->c);
}

MCUQ_API mcuq_status mcuq_convolve_s16(const mcuq_conv_params *params,
                                       const mcuq_per_channel_quant *quant,
                                       const mcuq_dims *input_dims,
                                       const int16_t *input,
                                       const mcuq_dims *filter_dims,
                                       const int8_t *filter,
                                       const int64_t *bias,
                                       const mcuq_dims *output_dims,
                                       int16_t *output)
{
    int32_t batch, out_y, out_x, oc, ky, kx, c;

    if (params == NULL || quant == NULL || input_dims == NULL || input == NULL || filter_dims == NULL ||
        filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (!mcuq_convolve_s16_args_ok(params, quant, input_dims, filter_dims, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
        const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
        const int32_t group_in_c = filter_dims->c;
        const int32_t group_out_c = filter_dims->n / params->groups;
        const int32_t out_c = output_dims->c;

        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int16_t *const in_batch = input + (size_t)batch * in_h * in_w * in_c;
            for (out_y = 0; out_y < output_dims->h; out_y++)
            {
                const int32_t base_y = out_y * params->stride.h - params->padding.top;
                int32_t ky0, ky1;
                mcuq_window_tap_range(base_y, params->dilation.h, k_h, in_h, &ky0, &ky1);
                for (out_x = 0; out_x < output_dims->w; out_x++)
                {
                    const int32_t base_x = out_x * params->stride.w - params->padding.left;
                    int16_t *const out_pixel = output + (((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) * out_c;
                    int32_t kx0, kx1;
                    mcuq_window_tap_range(base_x, params->dilation.w, k_w, in_w, &kx0, &kx1);

                    for (oc = 0; oc < out_c; oc++)
                    {
                        const int32_t first_in_c = (oc / group_out_c) * group_in_c;
                        const int8_t *const f_oc = filter + (size_t)oc * k_h * k_w * group_in_c;
                        int64_t acc = bias != NULL ? bias[oc] : 0;
                        int32_t result;
                        for (ky = ky0; ky < ky1; ky++)
                        {
                            const int32_t in_y = base_y + ky * params->dilation.h;
                            for (kx = kx0; kx < kx1; kx++)
                            {
                                const int32_t in_x = base_x + kx * params->dilation.w;
                                const int16_t *src = in_batch + ((size_t)in_y * in_w + in_x) * in_c + first_in_c;
                                const int8_t *f = f_oc + ((size_t)ky * k_w + kx) * group_in_c;
                                for (c = 0; c < group_in_c; c++)
                                {
                                    acc += (int32_t)src[c] * (int32_t)f[c];
                                }
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
