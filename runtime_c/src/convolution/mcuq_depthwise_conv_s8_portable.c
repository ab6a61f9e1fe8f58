/*
 * mcuq_depthwise_conv_s8, portable path: the reference for the faster ones, and the path of every
 * layer they do not take (other filter sizes, ch_mult > 1, dilation, more padding, no scratch).
 *
 * Direct loops, the window clipped once per output pixel so that the inner loops test no bounds; only
 * border pixels sum the filter taps that fall in the padding. In place: each output pixel's channels
 * are written after its own window was read, in raster order, as mcuq/plan/inplace.py assumes.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_depthwise_conv_s8_args.h"

#if defined(__GNUC__)
__attribute__((noinline)) /* its own registers: inlined into the entry point it spills in the inner loop */
#endif
MCUQ_API void mcuq_depthwise_conv_s8_portable(const mcuq_dw_conv_s8_args *args)
{
    const mcuq_dw_conv_params *const params = args->params;
    const mcuq_dims *const input_dims = args->input_dims, *const output_dims = args->output_dims;
    const mcuq_dims *const filter_dims = args->filter_dims;
    const int8_t *const input = args->input, *const filter = args->filter;
    const int32_t *const bias = args->bias;
    int8_t *const output = args->output;
    /* Everything the loops read, as locals: the stores through int8_t *output may alias any object,
     * so fields read through the pointers would be loaded again after every output byte. */
    const int32_t in_h = input_dims->h, in_w = input_dims->w, in_c = input_dims->c;
    const int32_t out_h = output_dims->h, out_w = output_dims->w, out_c = output_dims->c;
    const int32_t k_h = filter_dims->h, k_w = filter_dims->w;
    const int32_t dil_h = params->dilation.h, dil_w = params->dilation.w;
    const int32_t stride_h = params->stride.h, stride_w = params->stride.w;
    const int32_t pad_top = params->padding.top, pad_left = params->padding.left;
    const int32_t out_stride = params->output_pixel_stride;
    const int32_t ch_mult = params->ch_mult;
    const int32_t input_offset = params->input_offset, output_offset = params->output_offset;
    const int32_t act_min = params->activation.min, act_max = params->activation.max;
    const int32_t *const multiplier = args->quant->multiplier, *const shift = args->quant->shift;
    const int32_t tap_step = dil_w * in_c;       /* input bytes from one kernel column to the next */
    const int32_t row_step = dil_h * in_w * in_c; /* ... and from one kernel row to the next */
    int32_t batch, out_y, out_x, ky, kx, c, m;

    for (batch = 0; batch < input_dims->n; batch++)
    {
        const int8_t *const in_batch = input + (size_t)batch * in_h * in_w * in_c;
        for (out_y = 0; out_y < out_h; out_y++)
        {
            const int32_t base_y = out_y * stride_h - pad_top;
            int32_t ky0, ky1;
            mcuq_window_tap_range(base_y, dil_h, k_h, in_h, &ky0, &ky1);
            for (out_x = 0; out_x < out_w; out_x++)
            {
                const int32_t base_x = out_x * stride_w - pad_left;
                int8_t *out_pixel = output + (((size_t)batch * out_h + out_y) * out_w + out_x) * out_stride;
                const int8_t *in_first; /* the clipped window's top-left tap, channel 0 */
                const int8_t *f_first;  /* its filter tap, output channel 0 */
                int32_t kx0, kx1, border;
                mcuq_window_tap_range(base_x, dil_w, k_w, in_w, &kx0, &kx1);
                border = ky0 > 0 || ky1 < k_h || kx0 > 0 || kx1 < k_w;
                in_first = in_batch + ((size_t)(base_y + ky0 * dil_h) * in_w + (base_x + kx0 * dil_w)) * in_c;
                f_first = filter + ((size_t)ky0 * k_w + kx0) * out_c;

                for (c = 0; c < in_c; c++)
                {
                    for (m = 0; m < ch_mult; m++)
                    {
                        const int32_t oc = c * ch_mult + m;
                        const int8_t *in_row = in_first + c;
                        const int8_t *f_row = f_first + oc;
                        int32_t acc = bias != NULL ? bias[oc] : 0;
                        for (ky = ky0; ky < ky1; ky++)
                        {
                            const int8_t *in_tap = in_row;
                            const int8_t *f_tap = f_row;
                            for (kx = kx0; kx < kx1; kx++)
                            {
                                acc += (int32_t)*in_tap * (int32_t)*f_tap;
                                in_tap += tap_step;
                                f_tap += out_c;
                            }
                            in_row += row_step;
                            f_row += (size_t)k_w * out_c;
                        }
                        if (border)
                        {
                            /* The taps in the padding hold the zero point, -input_offset: whole kernel
                             * rows above and below the clipped window, and the columns beside it. */
                            int32_t padded_filter_sum = 0;
                            for (ky = 0; ky < k_h; ky++)
                            {
                                const int8_t *const f_taps = filter + (size_t)ky * k_w * out_c + oc;
                                if (ky < ky0 || ky >= ky1)
                                {
                                    for (kx = 0; kx < k_w; kx++)
                                    {
                                        padded_filter_sum += f_taps[(size_t)kx * out_c];
                                    }
                                }
                                else
                                {
                                    /* (kx0 may exceed k_w when the whole window lies left of the input) */
                                    for (kx = 0; kx < kx0 && kx < k_w; kx++)
                                    {
                                        padded_filter_sum += f_taps[(size_t)kx * out_c];
                                    }
                                    for (kx = kx1; kx < k_w; kx++)
                                    {
                                        padded_filter_sum += f_taps[(size_t)kx * out_c];
                                    }
                                }
                            }
                            acc -= input_offset * padded_filter_sum;
                        }
                        acc = mcuq_requantize_fast(acc, multiplier[oc], shift[oc]) + output_offset;
                        out_pixel[oc] = (int8_t)mcuq_clamp_s32(acc, act_min, act_max);
                    }
                }
            }
        }
    }
}
