/*
 * mcuq_convolve_s8: int8 2-D convolution with groups, dilation and asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_convolve_s8 (TFLite int8): for every output element
 *   acc = bias[oc] + sum over the receptive field of (input + input_offset) * filter
 * where padded positions contribute 0 (the input zero point), then
 *   out = clamp(requantize(acc, multiplier[oc], shift[oc]) + output_offset, act.min, act.max).
 * `bias` here is mcuq's folded bias, bias[oc] + input_offset * sum(filter[oc]) (see mcuq_nn.h), so
 * the kernel sums raw input * filter products, with padded positions holding the zero point.
 *
 * Method: for each output pixel and group, the receptive field is copied once into the scratch
 * buffer as int16, padding as the zero point (im2col of one column), so the inner loop over output
 * channels is a branch-free int16 x int8 dot product.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API int32_t mcuq_convolve_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    (void)input_dims;
    return (int32_t)sizeof(int16_t) * filter_dims->h * filter_dims->w * filter_dims->c;
}

static int32_t mcuq_convolve_s8_dot(const int16_t *col, const int8_t *filter, int32_t len)
{
    int32_t acc = 0;
    int32_t i;
    for (i = 0; i < len; i++)
    {
        acc += (int32_t)col[i] * (int32_t)filter[i];
    }
    return acc;
}

static int mcuq_convolve_s8_args_ok(const mcuq_context *ctx,
                                    const mcuq_conv_params *params,
                                    const mcuq_dims *input_dims,
                                    const mcuq_dims *filter_dims,
                                    const mcuq_dims *output_dims)
{
    const int32_t groups = params->groups;
    if (groups < 1 || !mcuq_activation_ok(&params->activation))
    {
        return 0;
    }
    /* The padding value, the zero point -input_offset, must be an int8. */
    if (params->input_offset < -127 || params->input_offset > 128)
    {
        return 0;
    }
    if (mcuq_dims_size(filter_dims) < 0 || filter_dims->c < 1 || input_dims->c != filter_dims->c * groups ||
        output_dims->c != filter_dims->n || filter_dims->n % groups != 0 ||
        params->output_pixel_stride < output_dims->c ||
        !mcuq_conv_window_ok(&params->stride, &params->dilation, &params->padding, input_dims, filter_dims->h,
                             filter_dims->w, output_dims))
    {
        return 0;
    }
    if (ctx->size < mcuq_convolve_s8_get_buffer_size(input_dims, filter_dims) || ctx->buf == NULL ||
        ((uintptr_t)ctx->buf & 1u) != 0u)
    {
        return 0;
    }
    return 1;
}

MCUQ_API mcuq_status mcuq_convolve_s8(const mcuq_context *ctx,
                                      const mcuq_conv_params *params,
                                      const mcuq_per_channel_quant *quant,
                                      const mcuq_dims *input_dims,
                                      const int8_t *input,
                                      const mcuq_dims *filter_dims,
                                      const int8_t *filter,
                                      const int32_t *bias,
                                      const mcuq_dims *output_dims,
                                      int8_t *output)
{
    int32_t batch, out_y, out_x, group, ky, kx, c, oc;

    if (ctx == NULL || params == NULL || quant == NULL || input_dims == NULL || input == NULL ||
        filter_dims == NULL || filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (!mcuq_convolve_s8_args_ok(ctx, params, input_dims, filter_dims, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
        const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
        const int32_t group_in_c = filter_dims->c;
        const int32_t group_out_c = filter_dims->n / params->groups;
        const int32_t col_len = k_h * k_w * group_in_c;
        const int32_t out_stride = params->output_pixel_stride;
        int16_t *const col = (int16_t *)ctx->buf;

        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int8_t *const in_batch = input + (size_t)batch * in_h * in_w * in_c;
            for (out_y = 0; out_y < output_dims->h; out_y++)
            {
                const int32_t base_y = out_y * params->stride.h - params->padding.top;
                for (out_x = 0; out_x < output_dims->w; out_x++)
                {
                    const int32_t base_x = out_x * params->stride.w - params->padding.left;
                    int8_t *const out_pixel =
                        output + (((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) * out_stride;

                    for (group = 0; group < params->groups; group++)
                    {
                        int16_t *dst = col;
                        for (ky = 0; ky < k_h; ky++)
                        {
                            const int32_t in_y = base_y + ky * params->dilation.h;
                            for (kx = 0; kx < k_w; kx++)
                            {
                                const int32_t in_x = base_x + kx * params->dilation.w;
                                if (in_y < 0 || in_y >= in_h || in_x < 0 || in_x >= in_w)
                                {
                                    for (c = 0; c < group_in_c; c++)
                                    {
                                        dst[c] = (int16_t)-params->input_offset; /* the zero point */
                                    }
                                }
                                else
                                {
                                    const int8_t *src = in_batch + ((size_t)in_y * in_w + in_x) * in_c + group * group_in_c;
                                    for (c = 0; c < group_in_c; c++)
                                    {
                                        dst[c] = src[c];
                                    }
                                }
                                dst += group_in_c;
                            }
                        }

                        for (oc = group * group_out_c; oc < (group + 1) * group_out_c; oc++)
                        {
                            int32_t acc = mcuq_convolve_s8_dot(col, filter + (size_t)oc * col_len, col_len);
                            if (bias != NULL)
                            {
                                acc += bias[oc];
                            }
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
