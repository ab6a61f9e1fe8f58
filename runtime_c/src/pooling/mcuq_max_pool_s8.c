/*
 * mcuq_max_pool_s8: int8 max pooling, NHWC, asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_max_pool_s8 (TFLite int8): the maximum over the window elements that
 * lie inside the input (padding never wins), then clamped to the activation range. Quantization is
 * unchanged. A window that lies entirely in the padding is an argument error.
 *
 * Fast paths take several channels per step: DSP four (SSUB8 + SEL, a bytewise max), MVE sixteen
 * (VMAX.S8, the last group predicated). Channels c..c+k of a pixel are written after channels c..c+k
 * of its whole window were read, and before any later channel is read: the in-place bound of
 * mcuq/plan/inplace.py (channelwise) still holds.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

MCUQ_API mcuq_status mcuq_max_pool_s8(const mcuq_pool_params *params,
                                      const mcuq_dims *input_dims,
                                      const int8_t *input,
                                      const mcuq_dims *output_dims,
                                      int8_t *output)
{
    int32_t batch, out_y, out_x, y, x, c;

    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (!mcuq_pool_args_ok(params, input_dims, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
        const int32_t out_stride = params->output_pixel_stride;
#if !defined(MCUQ_PATH_MVE) && defined(MCUQ_HAVE_DSP)
        /* The clamp bounds in each byte. */
        const int32_t lo4 = (int32_t)(((uint32_t)params->activation.min & 0xFFu) * 0x01010101u);
        const int32_t hi4 = (int32_t)(((uint32_t)params->activation.max & 0xFFu) * 0x01010101u);
#endif
        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int8_t *const in_batch = input + (size_t)batch * in_h * in_w * ch;
            for (out_y = 0; out_y < output_dims->h; out_y++)
            {
                const int32_t base_y = out_y * params->stride.h - params->padding.top;
                const int32_t y0 = mcuq_max_s32(base_y, 0);
                const int32_t y1 = mcuq_min_s32(base_y + params->kernel.h, in_h);
                for (out_x = 0; out_x < output_dims->w; out_x++)
                {
                    const int32_t base_x = out_x * params->stride.w - params->padding.left;
                    const int32_t x0 = mcuq_max_s32(base_x, 0);
                    const int32_t x1 = mcuq_min_s32(base_x + params->kernel.w, in_w);
                    int8_t *const out_pixel =
                        output + (((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) * out_stride;
                    if (y0 >= y1 || x0 >= x1)
                    {
                        return MCUQ_ARG_ERROR;
                    }
                    c = 0;
#if defined(MCUQ_PATH_MVE)
                    for (; c < ch; c += 16)
                    {
                        const mve_pred16_t p = vctp8q((uint32_t)(ch - c));
                        int8x16_t max = vdupq_n_s8(-128);
                        for (y = y0; y < y1; y++)
                        {
                            const int8_t *ptr = in_batch + ((size_t)y * in_w + x0) * ch + c;
                            for (x = x0; x < x1; x++)
                            {
                                max = vmaxq_s8(max, vldrbq_z_s8(ptr, p));
                                ptr += ch;
                            }
                        }
                        max = vminq_s8(vmaxq_s8(max, vdupq_n_s8((int8_t)params->activation.min)),
                                       vdupq_n_s8((int8_t)params->activation.max));
                        vstrbq_p_s8(out_pixel + c, max, p);
                    }
#elif defined(MCUQ_HAVE_DSP)
                    for (; c + 4 <= ch; c += 4)
                    {
                        int32_t max = (int32_t)0x80808080u;
                        for (y = y0; y < y1; y++)
                        {
                            const int8_t *ptr = in_batch + ((size_t)y * in_w + x0) * ch + c;
                            for (x = x0; x < x1; x++)
                            {
                                max = mcuq_max_s8x4(max, mcuq_read_s8x4(ptr));
                                ptr += ch;
                            }
                        }
                        mcuq_write_s8x4(out_pixel + c, mcuq_min_s8x4(mcuq_max_s8x4(max, lo4), hi4));
                    }
#endif
                    for (; c < ch; c++)
                    {
                        int32_t max = -128;
                        for (y = y0; y < y1; y++)
                        {
                            for (x = x0; x < x1; x++)
                            {
                                max = mcuq_max_s32(max, in_batch[((size_t)y * in_w + x) * ch + c]);
                            }
                        }
                        out_pixel[c] = (int8_t)mcuq_clamp_s32(max, params->activation.min, params->activation.max);
                    }
                }
            }
        }
    }
    return MCUQ_OK;
}
