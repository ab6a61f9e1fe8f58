/*
 * mcuq_avg_pool_s8: int8 average pooling, NHWC, asymmetric padding.
 *
 * Semantics of CMSIS-NN's arm_avgpool_s8 (TFLite int8): the sum of the window elements inside the
 * input divided by their count, rounded half away from zero:
 *   avg = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count   (C division)
 * then clamped to the activation range. With count_include_pad (ONNX AveragePool's attribute) every
 * window position counts: the divisor is KH*KW and each padded position adds pad_value (the input
 * zero point, i.e. real 0.0). Quantization is unchanged. A window that lies entirely in the padding
 * is an argument error.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

MCUQ_API mcuq_status mcuq_avg_pool_s8(const mcuq_pool_params *params,
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
    if (!mcuq_pool_args_ok(params, input_dims, output_dims) || params->pad_value < -128 || params->pad_value > 127)
    {
        return MCUQ_ARG_ERROR;
    }

    {
        const int32_t in_h = input_dims->h, in_w = input_dims->w, ch = input_dims->c;
        const int32_t out_stride = params->output_pixel_stride;
        const int32_t window = params->kernel.h * params->kernel.w;
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
                    const int32_t inside = (y1 - y0) * (x1 - x0);
                    const int32_t count = params->count_include_pad ? window : inside;
                    const int32_t pad_sum = params->count_include_pad ? (window - inside) * params->pad_value : 0;
                    if (y0 >= y1 || x0 >= x1)
                    {
                        return MCUQ_ARG_ERROR;
                    }
                    for (c = 0; c < ch; c++)
                    {
                        int32_t sum = pad_sum;
                        for (y = y0; y < y1; y++)
                        {
                            for (x = x0; x < x1; x++)
                            {
                                sum += in_batch[((size_t)y * in_w + x) * ch + c];
                            }
                        }
                        sum = sum > 0 ? (sum + count / 2) / count : (sum - count / 2) / count;
                        out_pixel[c] = (int8_t)mcuq_clamp_s32(sum, params->activation.min, params->activation.max);
                    }
                }
            }
        }
    }
    return MCUQ_OK;
}
