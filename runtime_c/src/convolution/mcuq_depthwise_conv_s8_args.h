/*
 * mcuq_depthwise_conv_s8's own header: the call its paths take, the fast paths' scratch sizes, and the
 * paths' prototypes.
 *
 * The kernel is one entry (mcuq_depthwise_conv_s8.c: scratch sizes, argument checks, the choice of
 * path) and one body per path, each in its own file: mcuq_depthwise_conv_s8_portable.c (the
 * reference, and every layer the fast paths do not take), mcuq_depthwise_conv_s8_dsp.c (Cortex-M4, M7,
 * M33) and mcuq_depthwise_conv_s8_mve.c (Cortex-M55);
 * the DSP and MVE bodies share the planes of mcuq_depthwise_conv_s8_fast.h. The code generator copies
 * the headers, the bodies and then the entry into the generated file, where MCUQ_API makes them all
 * static; in a library build (the tests) the bodies have external linkage, declared here.
 */
#ifndef MCUQ_DEPTHWISE_CONV_S8_ARGS_H
#define MCUQ_DEPTHWISE_CONV_S8_ARGS_H

#include "mcuq_nn_types.h"
#include "mcuq_nn_simd.h"

/* The kernel's arguments, checked by the entry, as one value for the paths. */
typedef struct
{
    const mcuq_context *ctx;
    const mcuq_dw_conv_params *params;
    const mcuq_per_channel_quant *quant;
    const mcuq_dims *input_dims;
    const int8_t *input;
    const mcuq_dims *filter_dims;
    const int8_t *filter;
    const int32_t *bias;
    const mcuq_dims *output_dims;
    int8_t *output;
} mcuq_dw_conv_s8_args;

/* The fast paths' planes: room for one channel with at most one row or column of padding a side,
 * (in_h + 2) x (in_w + 2) bytes, its columns at least 32 bytes apart (see mcuq_dw_geom.cs). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_dw_plane_bytes(const mcuq_dims *input_dims)
{
    return (input_dims->h + 2 > 32 ? input_dims->h + 2 : 32) * (input_dims->w + 2);
}

/* Scratch for `planes` planes and 4 bytes of slack for the loads past a plane's end, in whole words. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_dw_scratch_bytes(const mcuq_dims *input_dims, int32_t planes)
{
    return planes == 0 ? 0 : (planes * mcuq_dw_plane_bytes(input_dims) + 4 + 3) / 4 * 4;
}

/* Any layer. */
MCUQ_API void mcuq_depthwise_conv_s8_portable(const mcuq_dw_conv_s8_args *args);

/* 3x3, ch_mult 1, dilation 1, at most 1 of padding a side, the scratch given, an output the channel
 * order may write (see mcuq_depthwise_conv_s8.c). */
#if defined(MCUQ_HAVE_DSP)
MCUQ_API void mcuq_depthwise_conv_s8_dsp(const mcuq_dw_conv_s8_args *args);
#endif
#if defined(MCUQ_PATH_MVE)
MCUQ_API void mcuq_depthwise_conv_s8_mve(const mcuq_dw_conv_s8_args *args);
#endif
/* Cores without the DSP extension (Cortex-M3, M0, M0+). */
#if defined(MCUQ_PATH_NODSP)
MCUQ_API void mcuq_depthwise_conv_s8_nodsp(const mcuq_dw_conv_s8_args *args);
#endif

#endif /* MCUQ_DEPTHWISE_CONV_S8_ARGS_H */
