/*
 * mcuq_convolve_s8's fast paths (DSP: mcuq_convolve_s8_dsp.c; MVE: mcuq_convolve_s8_mve.c; no DSP:
 * mcuq_convolve_s8_nodsp.c), one group
 * (any kernel, stride, padding, dilation), bit-exact with the portable path: what both share.
 *  - Pairs (DSP always; MVE when K > 64 or K < 16): output pixels two at a time in raster order. The
 *    two receptive fields are copied into the scratch as int8 columns of K = KH*KW*C_in bytes
 *    (padding as the zero point; windows inside the input row by row), the scratch's 2*K bytes; then
 *    each pair of output channels is a 2-pixel x 2-channel dot product over K, so that every loaded
 *    column word serves two filter rows and every filter word two pixels (DSP: SXTB16 + SMLAD, 16
 *    bytes per turn in assembly; MVE: VMLADAVA.S8, four channels per vector requantization).
 *  - Held columns (MVE, 16 <= K <= 64): one pixel at a time, its column in vector registers
 *    (mcuq_conv_s8_pixel_mve); a window that is one run of input bytes (1x1) is read in place.
 * Requantization: the one-step mcuq_requantize_rshift with its per-channel part hoisted when every
 * shift is <= -2 and there is a bias (checked once per call; the models' case), else the exact general
 * helpers; MVE uses mcuq_requantize_mve.
 *
 * In place: a pixel's window (both windows of a pair) is read, into the scratch or into registers,
 * before any of its output is written, and pixels go in raster order, so every input byte is read no
 * later, and every output byte written no earlier, than in the portable loop: the shifts
 * mcuq/plan/inplace.py allows stay safe. (Reading a pixel straight from the input channel by channel,
 * even for 1x1 convs, would not be: the output of a pixel may overlap its own input, which later
 * output channels still need; the held path reads all of it into registers first.)
 */
#ifndef MCUQ_CONVOLVE_S8_FAST_H
#define MCUQ_CONVOLVE_S8_FAST_H

#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_convolve_s8_args.h"

#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_NODSP)
/* The inner loops in assembly: gcc only (clang cannot allocate their registers), and only when
 * optimizing (at -O0 the frame pointer takes one of the 14 registers the DSP loop needs); the C loops
 * below them give the same results everywhere else. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
#define MCUQ_CONV_S8_GCC_ASM 1
#else
#define MCUQ_CONV_S8_GCC_ASM 0
#endif


/* n bytes from src to dst (distinct buffers); each path defines its own. */
static inline void mcuq_conv_s8_copy(int8_t *dst, const int8_t *src, int32_t n);

/* acc[2 * pixel + channel] = dot(column of pixel a or b, filter row 0 or 1) over len bytes, where
 * column b follows column a and row 1 follows row 0; each path defines its own. */
static void mcuq_conv_s8_dot_2x2(const int8_t *col_a, const int8_t *row_0, int32_t len, int32_t *acc);


/* The geometry im2col needs, computed once per call. */
typedef struct
{
    int32_t in_h, in_w, in_c;
    int32_t k_h, k_w;
    int32_t dil_h, dil_w;
    int8_t pad_value; /* the input zero point */
} mcuq_conv_s8_window;

/* The receptive field of the output pixel whose window starts at (base_y, base_x) of the image at
 * in_batch, as one int8 column of k_h * k_w * in_c bytes; positions in the padding hold the zero
 * point. */
static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_im2col(int8_t *dst,
                                                      const int8_t *in_batch,
                                                      const mcuq_conv_s8_window *win,
                                                      int32_t base_y,
                                                      int32_t base_x)
{
    const int32_t in_w = win->in_w, in_c = win->in_c, k_w = win->k_w, dil_w = win->dil_w;
    const int32_t row_len = k_w * in_c;
    int32_t kx0, kx1, ky, kx;

    mcuq_window_tap_range(base_x, dil_w, k_w, in_w, &kx0, &kx1);
    for (ky = 0; ky < win->k_h; ky++)
    {
        const int32_t in_y = base_y + ky * win->dil_h;
        if (in_y < 0 || in_y >= win->in_h || kx0 >= kx1)
        {
            mcuq_fill_s8(dst, win->pad_value, row_len);
        }
        else
        {
            const int8_t *src = in_batch + ((size_t)in_y * in_w + base_x + kx0 * dil_w) * in_c;
            if (kx0 > 0)
            {
                mcuq_fill_s8(dst, win->pad_value, kx0 * in_c);
            }
            if (dil_w == 1)
            {
                mcuq_conv_s8_copy(dst + kx0 * in_c, src, (kx1 - kx0) * in_c);
            }
            else
            {
                for (kx = kx0; kx < kx1; kx++)
                {
                    mcuq_conv_s8_copy(dst + kx * in_c, src, in_c);
                    src += (size_t)dil_w * in_c;
                }
            }
            if (kx1 < k_w)
            {
                mcuq_fill_s8(dst + kx1 * in_c, win->pad_value, (k_w - kx1) * in_c);
            }
        }
        dst += row_len;
    }
}



/* The last channel of an odd count: acc[pixel] = dot(column of pixel a or b, row) (no row after it). */
static void mcuq_conv_s8_dot_2x1(const int8_t *col_a, const int8_t *row, int32_t len, int32_t *acc)
{
    int32_t a = 0, b = 0, i;
    for (i = 0; i < len; i++)
    {
        a += (int32_t)col_a[i] * row[i];
        b += (int32_t)col_a[len + i] * row[i];
    }
    acc[0] = a;
    acc[2] = b;
}

/* The output step of one channel: requantization (mcuq_requantize exactly), output offset, clamp. */
typedef struct
{
    int32_t multiplier;
    int32_t shift;
    int32_t round_hi; /* shift <= -2: 2^(-shift - 2), the high word of the rounding constant */
    int32_t out_offset;
    int32_t act_min;
    int32_t act_max;
} mcuq_conv_s8_out_step;

static inline void mcuq_conv_s8_out_step_init(mcuq_conv_s8_out_step *step, int32_t multiplier, int32_t shift,
                                              const mcuq_conv_params *params)
{
    step->multiplier = multiplier;
    step->shift = shift;
    step->round_hi = shift <= -2 ? (int32_t)(1u << (-shift - 2)) : 0;
    step->out_offset = params->output_offset;
    step->act_min = params->activation.min;
    step->act_max = params->activation.max;
}

/* mcuq_requantize_rshift for n = -shift >= 2 with its per-channel part precomputed: one SMLAL and four
 * ALU instructions per value. Other shifts (n = 1, left shifts): mcuq_requantize. */
static inline int8_t mcuq_conv_s8_out(int32_t acc, const mcuq_conv_s8_out_step *step)
{
    int32_t v;
    if (step->shift <= -2)
    {
        const uint32_t lo = 0x40000000u | ((uint32_t)acc & 0x80000000u);
        const int32_t hi = step->round_hi + (acc >> 31);
        const int64_t sum = (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)acc * step->multiplier;
        v = (int32_t)(sum >> 32) >> (-step->shift - 1);
    }
    else
    {
        v = mcuq_requantize(acc, step->multiplier, step->shift);
    }
    return (int8_t)mcuq_clamp_s32(v + step->out_offset, step->act_min, step->act_max);
}

/* What a pixel's (or a pixel pair's) output channels need besides their columns, set once per call. */
typedef struct
{
    int32_t len; /* K = KH * KW * C_in, the bytes of a column and of a filter row */
    int32_t out_c;
    const mcuq_conv_params *params;
    const mcuq_per_channel_quant *quant;
    const int8_t *filter;
    const int32_t *bias;
} mcuq_conv_s8_channels;

/* Output channels [oc, out_c) of the pixel pair whose columns are in col, two at a time (scalar output
 * step); out_b may equal out_a (an odd last pixel, whose column col then holds twice). */
static void mcuq_conv_s8_pair_scalar(const int8_t *col,
                                     const mcuq_conv_s8_channels *ch,
                                     int32_t oc,
                                     int8_t *out_a,
                                     int8_t *out_b)
{
    const int32_t len = ch->len, out_c = ch->out_c;
    const mcuq_conv_params *const params = ch->params;
    const mcuq_per_channel_quant *const quant = ch->quant;
    const int8_t *const filter = ch->filter;
    const int32_t *const bias = ch->bias;
    for (; oc < out_c; oc += 2)
    {
        const int8_t *const row = filter + (size_t)oc * len;
        mcuq_conv_s8_out_step step;
        int32_t acc[4];
        int32_t b;

        if (oc + 1 == out_c)
        {
            mcuq_conv_s8_dot_2x1(col, row, len, acc);
        }
        else
        {
            mcuq_conv_s8_dot_2x2(col, row, len, acc);
            b = bias != NULL ? bias[oc + 1] : 0;
            mcuq_conv_s8_out_step_init(&step, quant->multiplier[oc + 1], quant->shift[oc + 1], params);
            out_a[oc + 1] = mcuq_conv_s8_out(acc[1] + b, &step);
            out_b[oc + 1] = mcuq_conv_s8_out(acc[3] + b, &step);
        }
        b = bias != NULL ? bias[oc] : 0;
        mcuq_conv_s8_out_step_init(&step, quant->multiplier[oc], quant->shift[oc], params);
        out_a[oc] = mcuq_conv_s8_out(acc[0] + b, &step);
        out_b[oc] = mcuq_conv_s8_out(acc[2] + b, &step);
    }
}

/* The walk over the output pixels in raster order ([N, OH, OW]), and what it needs of the geometry. */
typedef struct
{
    int32_t batch, out_y, out_x; /* the current pixel */
    int32_t out_h, out_w;
    int32_t stride_h, stride_w, pad_top, pad_left;
    const int8_t *input;
    int32_t in_image; /* bytes per input image */
    /* Windows without dilation that lie inside the input (the usual case) are copied row by row: the
     * last window origin inside the input, and the bytes of a window row and of an input row. */
    int dense;
    int32_t last_y, last_x, row_len, in_row;
} mcuq_conv_s8_cursor;

/* The window geometry, the walk's start and the channels' constants of a call. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_fast_init(const mcuq_conv_s8_args *args,
                                                                   mcuq_conv_s8_window *win,
                                                                   mcuq_conv_s8_cursor *cur,
                                                                   mcuq_conv_s8_channels *ch)
{
    const mcuq_conv_params *const params = args->params;
    const mcuq_dims *const input_dims = args->input_dims;
    win->in_h = input_dims->h;
    win->in_w = input_dims->w;
    win->in_c = input_dims->c;
    win->k_h = args->filter_dims->h;
    win->k_w = args->filter_dims->w;
    win->dil_h = params->dilation.h;
    win->dil_w = params->dilation.w;
    win->pad_value = (int8_t)-params->input_offset;
    cur->batch = 0;
    cur->out_y = 0;
    cur->out_x = 0;
    cur->out_h = args->output_dims->h;
    cur->out_w = args->output_dims->w;
    cur->stride_h = params->stride.h;
    cur->stride_w = params->stride.w;
    cur->pad_top = params->padding.top;
    cur->pad_left = params->padding.left;
    cur->input = args->input;
    cur->in_image = input_dims->h * input_dims->w * input_dims->c;
    cur->dense = win->dil_h == 1 && win->dil_w == 1;
    cur->last_y = win->in_h - win->k_h;
    cur->last_x = win->in_w - win->k_w;
    cur->row_len = win->k_w * win->in_c;
    cur->in_row = win->in_w * win->in_c;
    ch->len = args->filter_dims->h * args->filter_dims->w * args->filter_dims->c;
    ch->out_c = args->output_dims->c;
    ch->params = params;
    ch->quant = args->quant;
    ch->filter = args->filter;
    ch->bias = args->bias;
}

/* Whether the channel loops may take their usual case: a bias and only right shifts of 2 or more. */
static inline int mcuq_conv_s8_rshifts(const mcuq_conv_s8_channels *ch)
{
    int rshifts = ch->bias != NULL;
    int32_t oc;
    for (oc = 0; oc < ch->out_c; oc++)
    {
        rshifts &= ch->quant->shift[oc] <= -2;
    }
    return rshifts;
}

/* Whether the output (pixels rows of out_stride bytes) lies apart from the input: then a column may be
 * read in place while the channel loop writes its pixel's outputs (an in-place layer's output may
 * overlap its own input). */
static inline int mcuq_conv_s8_output_apart(const mcuq_conv_s8_args *args, int32_t pixels, int32_t out_stride)
{
    const uintptr_t in0 = (uintptr_t)args->input, out0 = (uintptr_t)args->output;
    const uintptr_t in_bytes = (uintptr_t)mcuq_dims_size(args->input_dims);
    const uintptr_t out_bytes = (uintptr_t)(pixels - 1) * (uintptr_t)out_stride + (uintptr_t)args->output_dims->c;
    return out0 + out_bytes <= in0 || in0 + in_bytes <= out0;
}

/* Where the current pixel's window starts in the input when it lies inside it without dilation (k_h
 * rows of k_w * in_c contiguous bytes, in_row bytes apart), else NULL. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE const int8_t *mcuq_conv_s8_window_in_input(const mcuq_conv_s8_cursor *cur,
                                                                                 const mcuq_conv_s8_window *win)
{
    const int32_t base_y = cur->out_y * cur->stride_h - cur->pad_top;
    const int32_t base_x = cur->out_x * cur->stride_w - cur->pad_left;
    if (cur->dense && base_y >= 0 && base_x >= 0 && base_y <= cur->last_y && base_x <= cur->last_x)
    {
        return cur->input + (size_t)cur->batch * cur->in_image + ((size_t)base_y * win->in_w + base_x) * win->in_c;
    }
    return NULL;
}

/* The column of the current pixel: built at dst, or, when in_place allows it and the window is one
 * run of input bytes inside the input (a single row of taps), the input itself. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE const int8_t *mcuq_conv_s8_column(const mcuq_conv_s8_cursor *cur,
                                                                        const mcuq_conv_s8_window *win,
                                                                        int8_t *dst,
                                                                        int in_place)
{
    const int32_t base_y = cur->out_y * cur->stride_h - cur->pad_top;
    const int32_t base_x = cur->out_x * cur->stride_w - cur->pad_left;
    const int8_t *const in_batch = cur->input + (size_t)cur->batch * cur->in_image;
    if (cur->dense && base_y >= 0 && base_x >= 0 && base_y <= cur->last_y && base_x <= cur->last_x)
    {
        /* The window lies inside the input: k_h rows of k_w * in_c contiguous bytes. */
        const int8_t *src = in_batch + ((size_t)base_y * win->in_w + base_x) * win->in_c;
        int8_t *row = dst;
        int32_t ky;
        if (in_place && win->k_h == 1)
        {
            return src;
        }
        for (ky = 0; ky < win->k_h; ky++)
        {
            mcuq_conv_s8_copy(row, src, cur->row_len);
            row += cur->row_len;
            src += cur->in_row;
        }
    }
    else
    {
        mcuq_conv_s8_im2col(dst, in_batch, win, base_y, base_x);
    }
    return dst;
}

static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_advance(mcuq_conv_s8_cursor *cur)
{
    if (++cur->out_x == cur->out_w)
    {
        cur->out_x = 0;
        if (++cur->out_y == cur->out_h)
        {
            cur->out_y = 0;
            cur->batch++;
        }
    }
}

/* The columns of the next pixel pair (both the last pixel when two is 0), at stage and stage + len or,
 * where in_place allows, in the input (see mcuq_conv_s8_column); the walk moves past the pair. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_next_pair(mcuq_conv_s8_cursor *cur,
                                                                   const mcuq_conv_s8_window *win,
                                                                   int8_t *stage,
                                                                   int32_t len,
                                                                   int two,
                                                                   int in_place,
                                                                   const int8_t **cols)
{
    cols[0] = mcuq_conv_s8_column(cur, win, stage, in_place);
    if (two)
    {
        mcuq_conv_s8_advance(cur);
    }
    cols[1] = mcuq_conv_s8_column(cur, win, stage + len, in_place);
    mcuq_conv_s8_advance(cur);
}

#endif /* MCUQ_PATH_MVE || MCUQ_HAVE_DSP || MCUQ_PATH_NODSP */
#endif /* MCUQ_CONVOLVE_S8_FAST_H */
