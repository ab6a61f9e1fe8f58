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
 * This file is the entry: the scratch sizes, the argument checks and the choice of path, made once per
 * call. The paths, bit-exact with each other, are in their own files (see mcuq_convolve_s8_args.h): the
 * portable one (mcuq_convolve_s8_portable.c), which takes every grouped convolution, and for one group
 * the DSP (mcuq_convolve_s8_dsp.c) and MVE (mcuq_convolve_s8_mve.c) ones.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_convolve_s8_args.h"

MCUQ_API int32_t mcuq_convolve_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    (void)input_dims;
    return (int32_t)sizeof(int16_t) * filter_dims->h * filter_dims->w * filter_dims->c;
}

MCUQ_API int32_t mcuq_convolve_s8_get_roomy_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    /* The DSP path's widened columns (MCUQ_CONV_S8_WIDE_SCRATCH), for K a multiple of 4; for small K
     * and a small filter, the small-K body's widened filter and columns where that is more. */
    const int32_t k = filter_dims->h * filter_dims->w * filter_dims->c;
    const int32_t kp = (k + 3) & ~3, out_c_even = (filter_dims->n + 1) & ~1;
    int32_t size = k % 4 == 0 ? MCUQ_CONV_S8_WIDE_SCRATCH(k)
                              : mcuq_convolve_s8_get_buffer_size(input_dims, filter_dims);
    if (k <= MCUQ_CONV_S8_SMALLK_MAX_K && 2 * kp * out_c_even <= MCUQ_CONV_S8_SMALLK_FILTER_BYTES &&
        MCUQ_CONV_S8_SMALLK_SCRATCH(k, filter_dims->n) > size)
    {
        size = MCUQ_CONV_S8_SMALLK_SCRATCH(k, filter_dims->n);
    }
    return size;
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
    mcuq_conv_s8_args args;
    if (ctx == NULL || params == NULL || quant == NULL || input_dims == NULL || input == NULL ||
        filter_dims == NULL || filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (!mcuq_convolve_s8_args_ok(ctx, params, input_dims, filter_dims, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }
    args.ctx = ctx;
    args.params = params;
    args.quant = quant;
    args.input_dims = input_dims;
    args.input = input;
    args.filter_dims = filter_dims;
    args.filter = filter;
    args.bias = bias;
    args.output_dims = output_dims;
    args.output = output;
#if defined(MCUQ_PATH_MVE)
    if (params->groups == 1)
    {
        mcuq_convolve_s8_mve(&args);
        return MCUQ_OK;
    }
#elif defined(MCUQ_HAVE_DSP)
    if (params->groups == 1)
    {
        mcuq_convolve_s8_dsp(&args);
        return MCUQ_OK;
    }
#elif defined(MCUQ_PATH_NODSP)
    if (params->groups == 1)
    {
        mcuq_convolve_s8_nodsp(&args);
        return MCUQ_OK;
    }
#endif
    mcuq_convolve_s8_portable(&args);
    return MCUQ_OK;
}
