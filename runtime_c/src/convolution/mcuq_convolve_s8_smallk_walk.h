/*
 * The pixel walk of mcuq_convolve_s8's small-K DSP body (mcuq_convolve_s8_dsp_smallk.c has its channel
 * loop, mcuq_convolve_s8_fast_dsp.h the layout and the order of K): the filter widened once per call,
 * then per pixel pair the two columns widened straight from the input (a window inside it) or from an
 * int8 column built at the scratch (a window over the padding), and the channel loop. Included by
 * mcuq_convolve_s8_dsp.c after mcuq_convolve_s8_fast.h, whose walk it uses.
 */
#ifndef MCUQ_CONVOLVE_S8_SMALLK_WALK_H
#define MCUQ_CONVOLVE_S8_SMALLK_WALK_H

#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_convolve_s8_args.h"

#if defined(MCUQ_HAVE_DSP) && !defined(MCUQ_PATH_MVE)
#include "mcuq_convolve_s8_fast.h"
#include "mcuq_convolve_s8_fast_dsp.h"

/* Whether the small-K body takes the call (mcuq_convolve_s8_dsp_smallk.c): K <= 64, the usual
 * requantization case, and the caller's scratch holds its MCUQ_CONV_S8_SMALLK_SCRATCH, word aligned. */
static int mcuq_conv_s8_smallk_fits(const mcuq_context *ctx, const mcuq_conv_s8_channels *ch, int folds)
{
    return folds && ch->len <= MCUQ_CONV_S8_SMALLK_MAX_K &&
           ctx->size >= MCUQ_CONV_S8_SMALLK_SCRATCH(ch->len, ch->out_c) && ((uintptr_t)ctx->buf & 3u) == 0u;
}

/* The current pixel's column widened into wide (mcuq_conv_s8_smallk_widen_window; rgb3x3: the shape is
 * 3x3 over RGB), straight from the input when the window lies inside it, else built as int8 at stage. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_smallk_column(int32_t *wide,
                                                                       const mcuq_conv_s8_cursor *cur,
                                                                       const mcuq_conv_s8_window *win,
                                                                       int8_t *stage,
                                                                       const mcuq_conv_s8_smallk_shape *shape,
                                                                       int rgb3x3)
{
    const int8_t *src = mcuq_conv_s8_window_in_input(cur, win);
    int32_t src_row = cur->in_row;
    if (src == NULL)
    {
        src = mcuq_conv_s8_column(cur, win, stage, 0);
        src_row = cur->row_len;
    }
    if (rgb3x3)
    {
        mcuq_conv_s8_smallk_widen_rgb3x3(wide, src, src_row);
    }
    else
    {
        mcuq_conv_s8_smallk_widen_window(wide, src, src_row, shape);
    }
}

/* How the pixel pairs' columns are built: windows of any shape; 3x3 over RGB; a pointwise layer's
 * input pixels (K a multiple of 4), widened two at a time in place; windows whose rows are whole words
 * (row_tail 0, e.g. a 1x1 stride-2 shortcut), K already in the order of mcuq_conv_s8_smallk_widen_window:
 * the two int8 columns (in the input or copied to stage) widened two at a time, without the general
 * loops' row and tail bookkeeping (ResNet-8's 1x1/2 16->32 on Cortex-M4: 311,560 instructions with them). */
#define MCUQ_CONV_S8_SMALLK_WINDOWS 0
#define MCUQ_CONV_S8_SMALLK_RGB3X3 1
#define MCUQ_CONV_S8_SMALLK_POINTWISE 2
#define MCUQ_CONV_S8_SMALLK_WHOLE_ROWS 3

/* The pixel pairs of the small-K body (cols: its widened columns, then the int8 one of a border window). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_smallk_pairs(const mcuq_conv_s8_args *args,
                                                                      mcuq_conv_s8_cursor *cur,
                                                                      const mcuq_conv_s8_window *win,
                                                                      const mcuq_conv_s8_smallk *sk,
                                                                      int32_t *cols,
                                                                      const mcuq_conv_s8_smallk_shape *shape,
                                                                      int columns,
                                                                      int full)
{
    const int32_t pixels = args->input_dims->n * cur->out_h * cur->out_w;
    const int32_t out_stride = args->params->output_pixel_stride;
    int8_t *const stage = (int8_t *)(cols + 4 * sk->steps); /* after 4 kp bytes */
    int32_t pixel;
    for (pixel = 0; pixel < pixels; pixel += 2)
    {
        /* The last pixel of an odd count is taken twice (out_b = out_a). */
        const int two = pixel + 1 < pixels;
        int8_t *const out_a = args->output + (size_t)pixel * out_stride;
        if (columns == MCUQ_CONV_S8_SMALLK_POINTWISE) /* the input pixels, K = kp */
        {
            const int8_t *const src = args->input + (size_t)pixel * win->in_c;
            mcuq_conv_s8_widen_two(cols, src, two ? src + win->in_c : src, win->in_c);
        }
        else if (columns == MCUQ_CONV_S8_SMALLK_WHOLE_ROWS) /* K = kp; stage holds 2 kp bytes */
        {
            const int8_t *srcs[2];
            mcuq_conv_s8_next_pair(cur, win, stage, 4 * sk->steps, two, 1, srcs);
            mcuq_conv_s8_widen_two(cols, srcs[0], srcs[1], 4 * sk->steps);
        }
        else
        {
            mcuq_conv_s8_smallk_column(cols, cur, win, stage, shape, columns == MCUQ_CONV_S8_SMALLK_RGB3X3);
            if (two)
            {
                mcuq_conv_s8_advance(cur);
            }
            mcuq_conv_s8_smallk_column(cols + 2, cur, win, stage, shape, columns == MCUQ_CONV_S8_SMALLK_RGB3X3);
            mcuq_conv_s8_advance(cur);
        }
        mcuq_conv_s8_smallk_pair(cols, sk, out_a, two ? out_a + out_stride : out_a, full);
    }
}

/* The pixel walk of the small-K body: the filter widened once, then per pixel pair the two columns
 * widened and the channel loop. Scratch layout: mcuq_convolve_s8_fast_dsp.h. */
static void mcuq_conv_s8_smallk_walk(const mcuq_conv_s8_args *args,
                                     mcuq_conv_s8_cursor *cur,
                                     const mcuq_conv_s8_window *win,
                                     const mcuq_conv_s8_channels *ch,
                                     int pointwise,
                                     int full)
{
    const int32_t kp = (ch->len + 3) & ~3;
    const mcuq_conv_s8_smallk_shape shape = mcuq_conv_s8_smallk_shape_of(win->k_h, cur->row_len);
    int32_t *const filter = (int32_t *)args->ctx->buf;
    int32_t *const cols = filter + kp / 2 * ((ch->out_c + 1) & ~1); /* 2 kp bytes per channel */
    mcuq_conv_s8_smallk sk;
    mcuq_conv_s8_smallk_widen_filter(filter, ch->filter, &shape, ch->out_c);
    sk.filter = filter;
    sk.steps = kp / 4;
    sk.out_c = ch->out_c;
    sk.bias = ch->bias;
    sk.mult = ch->quant->multiplier;
    sk.shift = ch->quant->shift;
    sk.range.hbias_base = 1u + 2u * (uint32_t)args->params->output_offset;
    sk.range.act_min = args->params->activation.min;
    sk.range.act_max = args->params->activation.max;
    if (shape.k_h == 3 && shape.row_words == 2 && shape.row_tail == 1)
    {
        mcuq_conv_s8_smallk_pairs(args, cur, win, &sk, cols, &shape, MCUQ_CONV_S8_SMALLK_RGB3X3, full);
    }
    else if (pointwise && kp == ch->len)
    {
        mcuq_conv_s8_smallk_pairs(args, cur, win, &sk, cols, &shape, MCUQ_CONV_S8_SMALLK_POINTWISE, full);
    }
    else if (shape.row_tail == 0)
    {
        mcuq_conv_s8_smallk_pairs(args, cur, win, &sk, cols, &shape, MCUQ_CONV_S8_SMALLK_WHOLE_ROWS, full);
    }
    else
    {
        mcuq_conv_s8_smallk_pairs(args, cur, win, &sk, cols, &shape, MCUQ_CONV_S8_SMALLK_WINDOWS, full);
    }
}

#endif /* MCUQ_HAVE_DSP && !MCUQ_PATH_MVE */
#endif /* MCUQ_CONVOLVE_S8_SMALLK_WALK_H */
