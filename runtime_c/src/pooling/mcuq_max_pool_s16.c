/*
 * mcuq_max_pool_s16: int16 max pooling, NHWC, asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_max_pool_s16: the maximum over the window elements that lie inside the
 * input (padding never wins), then clamped to the activation range. Quantization is unchanged. A
 * window that lies entirely in the padding is an argument error.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_max_pool_s16(const mcuq_pool_params *params,
                                       const mcuq_dims *input_dims,
                                       const int16_t *input,
                                       const mcuq_dims *output_dims,
                                       int16_t *output)
{
    int32_t batch, out_y, out_x, y, x, c;

    if (params == NULL || input_dims == NULL || input == NULL || output_dims == NULL || output == NULL ||
        !mcuq_activation_s16_ok(&params->activation) || !mcuq_pool_geometry_ok(params, input_dims, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
        for (batch = 0; batch < input_dims->n; batch++)
        {
            const int16_t *const in_batch = input + (size_t)batch * in_h * in_w * ch;
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
                    int16_t *const out_pixel = output + (((size_t)batch * output_dims->h + out_y) * output_dims->w + out_x) *
                                                            params->output_pixel_stride;
                    if (y0 >= y1 || x0 >= x1)
                    {
                        return MCUQ_ARG_ERROR;
                    }
                    for (c = 0; c < ch; c++)
                    {
                        int32_t max = -32768;
                        for (y = y0; y < y1; y++)
                        {
                            for (x = x0; x < x1; x++)
                            {
                                max = mcuq_max_s32(max, in_batch[((size_t)y * in_w + x) * ch + c]);
                            }
                        }
                        out_pixel[c] = (int16_t)mcuq_clamp_s32(max, params->activation.min, params->activation.max);
                    }
                }
            }
        }
    }
    return MCUQ_OK;
}
