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
 * This file is the entry: the scratch sizes, the argument checks and the choice of path, made once per
 * call. The paths, bit-exact with each other, are in their own files (see mcuq_depthwise_conv_s8_args.h):
 * the portable one (mcuq_depthwise_conv_s8_portable.c), the reference and the fallback, and for 3x3
 * filters with ch_mult 1, dilation 1 and at most 1 row or column of padding per side (DS-CNN,
 * MobileNet), given the scratch buffer, the DSP (mcuq_depthwise_conv_s8_dsp.c) and MVE
 * (mcuq_depthwise_conv_s8_mve.c) ones, which copy each input channel into a padded plane in
 * the scratch (mcuq_depthwise_conv_s8_fast.h).
 *
 * In place: a fast path reads all of a group of channels (every pixel) before writing those channels'
 * outputs, and never reads them again. That is safe when the output does not overlap the input, or
 * starts a whole number of input pixels before it (output channel c then lands on input channel c,
 * read already); mcuq/plan/inplace.py's shifts for ch_mult 1 are such (first(p) - p * C is a multiple
 * of C, and the planner rounds it to 4 bytes, a multiple of C when C % 4 == 0). The kernel checks the
 * pointers and takes the portable loop for any other overlap.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_depthwise_conv_s8_args.h"

/* Planes the fast paths can use: 4 (four channels per copy) when the channels come in fours and a plane
 * is at most 1 KiB, else 1; 0 where no fast path applies. */
static int32_t mcuq_dw_max_planes(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    if (input_dims == NULL || filter_dims == NULL || filter_dims->h != 3 || filter_dims->w != 3 ||
        filter_dims->c != input_dims->c || input_dims->c < 1 || input_dims->h < 1 || input_dims->w < 1 ||
        (int64_t)(input_dims->h + 34) * (input_dims->w + 2) > (MCUQ_Q31_MAX - 8) / 4)
    {
        return 0;
    }
    return input_dims->c % 4 == 0 && mcuq_dw_plane_bytes(input_dims) <= 1024 ? 4 : 1;
}

/* Scratch of the fast paths (the same on every core, as the planner sizes the arena for any): one plane
 * and 4 bytes of slack for the loads past a plane's end; 0 where no fast path applies (the portable
 * path needs none). mcuq.golden.scratch_bytes computes the same. */
MCUQ_API int32_t mcuq_depthwise_conv_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims)
{
    return mcuq_dw_scratch_bytes(input_dims, mcuq_dw_max_planes(input_dims, filter_dims) > 0 ? 1 : 0);
}

/* Scratch with which the DSP path copies four channels at a time (4 planes), where that applies; the
 * code generator gives it where it does not enlarge the arena (mcuq.golden.roomy_scratch_bytes). */
MCUQ_API int32_t mcuq_depthwise_conv_s8_get_roomy_buffer_size(const mcuq_dims *input_dims,
                                                              const mcuq_dims *filter_dims)
{
    return mcuq_dw_scratch_bytes(input_dims, mcuq_dw_max_planes(input_dims, filter_dims));
}

#if defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_MVE) || defined(MCUQ_PATH_NODSP)
/* Whether the fast paths' order is safe: they read all of a group of channels (every pixel) before
 * writing those channels' outputs. That holds when the output does not overlap the input, or when it
 * starts a whole number of pixels before it (or at it) with pixels as wide as the input's: output
 * channel c then lands on input channel c of the same or an earlier pixel, all read already. The
 * planner's in-place shifts are such (mcuq/plan/inplace.py: first(p) - p * C is a multiple of C);
 * any other overlap takes the portable loop. */
static int mcuq_dw_channel_order_ok(const mcuq_dims *input_dims, const int8_t *input, const mcuq_dims *output_dims,
                                    const int8_t *output, int32_t os)
{
    const uintptr_t in0 = (uintptr_t)input, out0 = (uintptr_t)output;
    const uintptr_t in_bytes = (uintptr_t)mcuq_dims_size(input_dims);
    const uintptr_t out_bytes =
        ((uintptr_t)output_dims->n * (uintptr_t)output_dims->h * (uintptr_t)output_dims->w - 1u) * (uintptr_t)os +
        (uintptr_t)output_dims->c;
    if (out0 + out_bytes <= in0 || in0 + in_bytes <= out0)
    {
        return 1;
    }
    return os == input_dims->c && out0 <= in0 && (in0 - out0) % (uintptr_t)input_dims->c == 0u;
}

/* Whether a fast path takes the layer: the filter and window it specializes, the scratch, an output it
 * may write in its channel order. */
static int mcuq_dw_fast_ok(const mcuq_dw_conv_s8_args *args)
{
    const mcuq_dw_conv_params *const params = args->params;
    const mcuq_context *const ctx = args->ctx;
    const int32_t need = mcuq_depthwise_conv_s8_get_buffer_size(args->input_dims, args->filter_dims);
    return need > 0 && params->ch_mult == 1 && params->dilation.h == 1 && params->dilation.w == 1 &&
           params->padding.top <= 1 && params->padding.left <= 1 && params->padding.bottom <= 1 &&
           params->padding.right <= 1 && ctx != NULL && ctx->buf != NULL && ctx->size >= need &&
           mcuq_dims_size(args->output_dims) > 0 &&
           mcuq_dw_channel_order_ok(args->input_dims, args->input, args->output_dims, args->output,
                                    params->output_pixel_stride);
}
#endif

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
    /* The arguments in the order of the struct's fields. */
    const mcuq_dw_conv_s8_args args = {
        ctx, params, quant, input_dims, input, filter_dims, filter, bias, output_dims, output};
    if (params == NULL || quant == NULL || input_dims == NULL || input == NULL || filter_dims == NULL ||
        filter == NULL || output_dims == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->input_offset < -127 || params->input_offset > 128 || params->ch_mult < 1 ||
        !mcuq_activation_ok(&params->activation) || mcuq_dims_size(filter_dims) < 0 ||
        output_dims->c != input_dims->c * params->ch_mult || filter_dims->c != output_dims->c ||
        params->output_pixel_stride < output_dims->c ||
        !mcuq_conv_window_ok(&params->stride, &params->dilation, &params->padding, input_dims, filter_dims->h,
                             filter_dims->w, output_dims))
    {
        return MCUQ_ARG_ERROR;
    }
#if defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_MVE) || defined(MCUQ_PATH_NODSP)
    if (mcuq_dw_fast_ok(&args))
    {
#if defined(MCUQ_PATH_MVE)
        mcuq_depthwise_conv_s8_mve(&args);
        return MCUQ_OK;
#elif defined(MCUQ_HAVE_DSP)
        mcuq_depthwise_conv_s8_dsp(&args);
        return MCUQ_OK;
#elif defined(MCUQ_PATH_NODSP)
        mcuq_depthwise_conv_s8_nodsp(&args);
        return MCUQ_OK;
#endif
    }
#endif
    mcuq_depthwise_conv_s8_portable(&args);
    return MCUQ_OK;
}
