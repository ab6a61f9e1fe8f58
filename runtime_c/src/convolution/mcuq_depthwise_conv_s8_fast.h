/*
 * mcuq_depthwise_conv_s8's fast paths (DSP: mcuq_depthwise_conv_s8_dsp.c; MVE:
 * mcuq_depthwise_conv_s8_mve.c; no DSP: mcuq_depthwise_conv_s8_nodsp.c), for 3x3 filters with ch_mult 1, dilation 1 and at most 1 row or column
 * of padding per side (DS-CNN, MobileNet), given the scratch buffer: what both share.
 *
 * Channel by channel, the whole input channel is copied into a plane in scratch with a border holding
 * the zero point, so that every output pixel is computed the same way, and the channel's weights and
 * requantization constants are set up once. The DSP path's planes are row major (or, for outputs taller
 * than wide, hold the input transposed), the MVE path's column major; mcuq_dw_fast_measure below
 * measures them, and mcuq_dw_fast_setup also writes the border once per call.
 *
 * In place: a fast path reads all of a group of channels (every pixel) before writing those channels'
 * outputs, and never reads them again; the entry takes the portable path for any overlap where that
 * is not safe (mcuq_dw_channel_order_ok in mcuq_depthwise_conv_s8.c).
 */
#ifndef MCUQ_DEPTHWISE_CONV_S8_FAST_H
#define MCUQ_DEPTHWISE_CONV_S8_FAST_H

#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_depthwise_conv_s8_args.h"

#if defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_MVE) || defined(MCUQ_PATH_NODSP)
#if defined(__GNUC__)
#define MCUQ_DW_INLINE static inline __attribute__((always_inline))
#define MCUQ_DW_NOINLINE __attribute__((noinline))
#else
#define MCUQ_DW_INLINE static inline
#define MCUQ_DW_NOINLINE
#endif

/* The fast paths' scratch: planes of (pad_top + in_h + pad_bottom) x (pad_left + in_w + pad_right)
 * bytes, one input channel each, its padding holding the zero point. */
typedef struct
{
    int32_t hp, wp, plane_bytes, planes; /* padded rows, columns; bytes per plane; planes */
    int32_t cs; /* MVE: bytes per column of the column-major plane (32 when they fit: one base register) */
    int32_t pad_top, pad_left;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, stride_h, stride_w, os;
} mcuq_dw_geom;

/* Planes of the scratch: 4 (four channels per fill) when the channels come in fours and a plane is
 * small, else 1. */
static inline int32_t mcuq_dw_planes(int32_t in_c, int32_t plane_bytes)
{
    return in_c % 4 == 0 && plane_bytes <= 1024 ? 4 : 1;
}

/* The planes' geometry for this call. */
MCUQ_DW_INLINE void mcuq_dw_fast_measure(const mcuq_dw_conv_s8_args *args, mcuq_dw_geom *g)
{
    const mcuq_dw_conv_params *const params = args->params;
    const mcuq_dims *const input_dims = args->input_dims;
    g->pad_top = params->padding.top;
    g->pad_left = params->padding.left;
    g->in_h = input_dims->h;
    g->in_w = input_dims->w;
    g->in_c = input_dims->c;
    g->hp = g->pad_top + g->in_h + params->padding.bottom;
    g->cs = g->hp <= 32 ? 32 : g->hp;
    g->wp = g->pad_left + g->in_w + params->padding.right;
    g->plane_bytes = mcuq_dw_plane_bytes(input_dims);
    g->planes = args->ctx->size >= mcuq_dw_scratch_bytes(input_dims, 4) ? mcuq_dw_planes(g->in_c, g->plane_bytes) : 1;
    g->out_h = args->output_dims->h;
    g->out_w = args->output_dims->w;
    g->stride_h = params->stride.h;
    g->stride_w = params->stride.w;
    g->os = params->output_pixel_stride;
}

/* The planes' geometry for this call, and their padding set to the zero point for good: the channels
 * only overwrite the inside. */
MCUQ_DW_INLINE void mcuq_dw_fast_setup(const mcuq_dw_conv_s8_args *args, mcuq_dw_geom *g)
{
    mcuq_dw_fast_measure(args, g);
    mcuq_fill_s8((int8_t *)args->ctx->buf, (int8_t)(-args->params->input_offset), g->planes * g->plane_bytes);
}

/* A row-major path's walk (DSP, no DSP): per batch and per group of channels (one plane each), fill
 * copies the channels into the planes, then channel computes each one's outputs. Inlined, so that both
 * are direct calls. */
typedef void (*mcuq_dw_fill_fn)(int8_t *scratch, const int8_t *in_batch, int32_t c, const mcuq_dw_geom *g);
typedef void (*mcuq_dw_channel_fn)(const int8_t *plane, const mcuq_dw_geom *g, const mcuq_dw_conv_s8_args *args,
                                   int32_t c, int8_t *out);
MCUQ_DW_INLINE void mcuq_dw_fast_run(const mcuq_dw_conv_s8_args *args, mcuq_dw_fill_fn fill, mcuq_dw_channel_fn channel)
{
    int8_t *const scratch = (int8_t *)args->ctx->buf;
    mcuq_dw_geom g;
    int32_t batch, c, k;
    mcuq_dw_fast_setup(args, &g);
    for (batch = 0; batch < args->input_dims->n; batch++)
    {
        const int8_t *const in_batch = args->input + (size_t)batch * g.in_h * g.in_w * g.in_c;
        int8_t *const out_batch = args->output + (size_t)batch * g.out_h * g.out_w * g.os;
        for (c = 0; c < g.in_c; c += g.planes)
        {
            fill(scratch, in_batch, c, &g);
            for (k = 0; k < g.planes; k++)
            {
                channel(scratch + (size_t)k * g.plane_bytes, &g, args, c + k, out_batch + c + k);
            }
        }
    }
}
#endif /* MCUQ_HAVE_DSP || MCUQ_PATH_MVE || MCUQ_PATH_NODSP */

#endif /* MCUQ_DEPTHWISE_CONV_S8_FAST_H */
