/*
 * mcuq_depthwise_conv_s8, path for cores without the DSP extension (Cortex-M3: Armv7-M; Cortex-M0/M0+:
 * Armv6-M; on the host with -DMCUQ_EMULATE_NODSP): the 3x3 layers of mcuq_depthwise_conv_s8_fast.h on
 * row-major planes, as the DSP path, one channel at a time: each channel's nine weights and its
 * requantization are set up once per channel; at stride 1 two neighbouring output pixels share the
 * loaded taps of each kernel row (4 loads for 6 MACs). Accumulators of up to MCUQ_DW_NODSP_ACC
 * pixels of one output row first, then their requantization, so that neither loop runs short of
 * registers.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_depthwise_conv_s8_args.h"

#if defined(MCUQ_PATH_NODSP)
#include "mcuq_depthwise_conv_s8_fast.h"

#define MCUQ_DW_NODSP_ACC 32 /* accumulators on the stack: one pass over part of an output row */

/* Copy input channels c .. c + g->planes - 1 into the planes, row major: plane k byte
 * (pad_top + y) * wp + pad_left + x = input(y, x, c + k). Byte accesses: Armv6-M faults on unaligned
 * words. */
static void mcuq_dw_nodsp_fill(int8_t *scratch, const int8_t *in_batch, int32_t c, const mcuq_dw_geom *g)
{
    const int32_t in_w = g->in_w, in_c = g->in_c, wp = g->wp, pb = g->plane_bytes, planes = g->planes;
    int32_t y, x, k;
    for (y = 0; y < g->in_h; y++)
    {
        const int8_t *src = in_batch + (size_t)y * in_w * in_c + c;
        int8_t *dst = scratch + (size_t)(g->pad_top + y) * wp + g->pad_left;
        for (x = 0; x < in_w; x++)
        {
            for (k = 0; k < planes; k++)
            {
                dst[k * pb] = src[k];
            }
            dst++;
            src += in_c;
        }
    }
}

/* One channel's weights and bias (w[ky * 3 + kx], then w[9] = bias: the assembly below reads them at
 * fixed offsets), and its requantization. */
typedef struct
{
    int32_t w[10];
    int32_t mult, shift;
    int32_t hbias, nm1; /* mcuq_requantize_rshift2's constants, the output offset folded in */
    int32_t mode;       /* 0: folded, clamp to the whole int8 range; 1: folded, clamp; 2: any shift */
    int32_t off, act_min, act_max;
} mcuq_dw_nodsp_channel_params;

static void mcuq_dw_nodsp_channel_init(mcuq_dw_nodsp_channel_params *ch, const mcuq_dw_conv_s8_args *args, int32_t c)
{
    const int32_t in_c = args->input_dims->c;
    const int32_t shift = args->quant->shift[c];
    int32_t k;
    for (k = 0; k < 9; k++)
    {
        ch->w[k] = args->filter[(size_t)k * in_c + c];
    }
    ch->w[9] = args->bias != NULL ? args->bias[c] : 0;
    ch->mult = args->quant->multiplier[c];
    ch->shift = shift;
    ch->nm1 = -shift - 1;
    ch->off = args->params->output_offset;
    ch->act_min = args->params->activation.min;
    ch->act_max = args->params->activation.max;
    if (shift <= -2 && shift >= -23)
    {
        ch->hbias = (int32_t)(1u << (-shift - 2)) + (int32_t)((uint32_t)ch->off << (-shift - 1));
        ch->mode = ch->act_min == -128 && ch->act_max == 127 ? 0 : 1;
    }
    else
    {
        ch->hbias = 0;
        ch->mode = 2;
    }
}

#if defined(__ARM_ARCH_7M__) && defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
/* Armv7-M, stride 1: the two-pixel turn of mcuq_dw_nodsp_acc in assembly, 47 instructions per 18 MACs
 * (gcc keeps the nine weights in registers, runs out of them and spills the taps instead). One kernel
 * row: its four taps, then each weight loaded once for its two MLA. */
#define MCUQ_DW_NODSP_ROW(base, w_off)                                                                       \
    "ldrsb %[t0], [" base ", #0]\n\t"                                                                        \
    "ldrsb %[t1], [" base ", #1]\n\t"                                                                        \
    "ldrsb %[t2], [" base ", #2]\n\t"                                                                        \
    "ldrsb %[t3], [" base ", #3]\n\t"                                                                        \
    "ldr %[w], [%[wq], #" #w_off "]\n\t"                                                                      \
    "mla %[a], %[t0], %[w], %[a]\n\t"                                                                        \
    "mla %[b], %[t1], %[w], %[b]\n\t"                                                                        \
    "ldr %[w], [%[wq], #" #w_off " + 4]\n\t"                                                                 \
    "mla %[a], %[t1], %[w], %[a]\n\t"                                                                        \
    "mla %[b], %[t2], %[w], %[b]\n\t"                                                                        \
    "ldr %[w], [%[wq], #" #w_off " + 8]\n\t"                                                                 \
    "mla %[a], %[t2], %[w], %[a]\n\t"                                                                        \
    "mla %[b], %[t3], %[w], %[b]\n\t"

/* The three kernel rows of a window at p (row macro: MCUQ_DW_NODSP_ROW or _ROW1; weights 12 bytes per
 * kernel row), and the loop's end test. */
#define MCUQ_DW_NODSP_WINDOW(row)                                                                            \
    row("%[p]", 0) "add %[q], %[p], %[wp]\n\t" row("%[q]", 12) "add %[q], %[q], %[wp]\n\t" row("%[q]", 24)
#define MCUQ_DW_NODSP_LOOP_END                                                                               \
    "cmp %[acc], %[end]\n\t"                                                                                  \
    "bne 1b\n\t"

/* acc[0 .. 2k) for the first 2k = n & ~1 pixels; returns the pointer past them. */
static inline int32_t *mcuq_dw_nodsp_pairs(const int8_t **p_io, int32_t wp, int32_t n, const int32_t *wq, int32_t *acc)
{
    int32_t *const end = acc + (n & ~1);
    const int8_t *p = *p_io;
    const int8_t *q;
    int32_t a, b, t0, t1, t2, t3, w;
    if (acc != end)
    {
        __asm__ volatile("1:\n\t"
                         "ldr %[a], [%[wq], #36]\n\t"
                         "mov %[b], %[a]\n\t" MCUQ_DW_NODSP_WINDOW(MCUQ_DW_NODSP_ROW)
                         "strd %[a], %[b], [%[acc]], #8\n\t"
                         "adds %[p], %[p], #2\n\t" MCUQ_DW_NODSP_LOOP_END
                         : [a] "=&r"(a), [b] "=&r"(b), [t0] "=&r"(t0), [t1] "=&r"(t1), [t2] "=&r"(t2), [t3] "=&r"(t3),
                           [w] "=&r"(w), [q] "=&r"(q), [p] "+r"(p), [acc] "+r"(acc)
                         : [wq] "r"(wq), [wp] "r"(wp), [end] "r"(end)
                         : "cc", "memory");
    }
    *p_io = p;
    return acc;
}
/* One kernel row of one pixel: tap, weight, MLA, three times. */
#define MCUQ_DW_NODSP_ROW1(base, w_off)                                                                      \
    "ldrsb %[t0], [" base ", #0]\n\t"                                                                        \
    "ldr %[w], [%[wq], #" #w_off "]\n\t"                                                                      \
    "mla %[a], %[t0], %[w], %[a]\n\t"                                                                        \
    "ldrsb %[t0], [" base ", #1]\n\t"                                                                        \
    "ldr %[w], [%[wq], #" #w_off " + 4]\n\t"                                                                 \
    "mla %[a], %[t0], %[w], %[a]\n\t"                                                                        \
    "ldrsb %[t0], [" base ", #2]\n\t"                                                                        \
    "ldr %[w], [%[wq], #" #w_off " + 8]\n\t"                                                                 \
    "mla %[a], %[t0], %[w], %[a]\n\t"

/* acc[0 .. n) one pixel per turn (the odd last pixel at stride 1, every pixel at stride 2), 34
 * instructions per 9 MACs, the weights read where they are rather than held in spilled registers. */
static inline void mcuq_dw_nodsp_singles(const int8_t *p, int32_t wp, int32_t stride_w, int32_t n,
                                         const int32_t *wq, int32_t *acc)
{
    int32_t *const end = acc + n;
    const int8_t *q;
    int32_t a, t0, w;
    if (acc != end)
    {
        __asm__ volatile("1:\n\t"
                         "ldr %[a], [%[wq], #36]\n\t" MCUQ_DW_NODSP_WINDOW(MCUQ_DW_NODSP_ROW1)
                         "str %[a], [%[acc]], #4\n\t"
                         "add %[p], %[p], %[sw]\n\t" MCUQ_DW_NODSP_LOOP_END
                         : [a] "=&r"(a), [t0] "=&r"(t0), [w] "=&r"(w), [q] "=&r"(q), [p] "+r"(p), [acc] "+r"(acc)
                         : [wq] "r"(wq), [wp] "r"(wp), [sw] "r"(stride_w), [end] "r"(end)
                         : "cc", "memory");
    }
}
#undef MCUQ_DW_NODSP_ROW
#undef MCUQ_DW_NODSP_ROW1
#undef MCUQ_DW_NODSP_WINDOW
#undef MCUQ_DW_NODSP_LOOP_END
#define MCUQ_DW_NODSP_ASM 1
#else
#define MCUQ_DW_NODSP_ASM 0
#endif

/* acc[i] = bias + the 3x3 window of output pixel i of n, p: the first window's top-left tap. */
#if MCUQ_DW_NODSP_ASM
MCUQ_DW_INLINE void mcuq_dw_nodsp_acc(const int8_t *p, int32_t wp, int32_t stride_w, int32_t n,
                                      const mcuq_dw_nodsp_channel_params *ch, int32_t *acc)
{
    int32_t *const end = acc + n;
    if (stride_w == 1)
    {
        acc = mcuq_dw_nodsp_pairs(&p, wp, n, ch->w, acc);
    }
    mcuq_dw_nodsp_singles(p, wp, stride_w, (int32_t)(end - acc), ch->w, acc);
}
#else
MCUQ_DW_INLINE void mcuq_dw_nodsp_acc(const int8_t *p, int32_t wp, int32_t stride_w, int32_t n,
                                      const mcuq_dw_nodsp_channel_params *ch, int32_t *acc)
{
    const int32_t w0 = ch->w[0], w1 = ch->w[1], w2 = ch->w[2], w3 = ch->w[3], w4 = ch->w[4];
    const int32_t w5 = ch->w[5], w6 = ch->w[6], w7 = ch->w[7], w8 = ch->w[8], bias = ch->w[9];
    int32_t *const end = acc + n;
    if (stride_w == 1)
    {
        /* Two pixels per turn: taps x .. x + 3 of each kernel row serve both. */
        for (; acc + 1 < end; acc += 2)
        {
            const int8_t *const r1 = p + wp, *const r2 = r1 + wp;
            acc[0] = bias + w0 * p[0] + w1 * p[1] + w2 * p[2] + w3 * r1[0] + w4 * r1[1] + w5 * r1[2] +
                     w6 * r2[0] + w7 * r2[1] + w8 * r2[2];
            acc[1] = bias + w0 * p[1] + w1 * p[2] + w2 * p[3] + w3 * r1[1] + w4 * r1[2] + w5 * r1[3] +
                     w6 * r2[1] + w7 * r2[2] + w8 * r2[3];
            p += 2;
        }
    }
    for (; acc < end; acc++)
    {
        const int8_t *const r1 = p + wp, *const r2 = r1 + wp;
        *acc = bias + w0 * p[0] + w1 * p[1] + w2 * p[2] + w3 * r1[0] + w4 * r1[1] + w5 * r1[2] + w6 * r2[0] +
               w7 * r2[1] + w8 * r2[2];
        p += stride_w;
    }
}
#endif

/* Requantize n accumulators into output pixels os bytes apart, in the channel's mode (a constant where
 * inlined). */
MCUQ_DW_INLINE void mcuq_dw_nodsp_store(const int32_t *acc, int32_t n, int8_t *out, int32_t os,
                                        const mcuq_dw_nodsp_channel_params *ch, const int mode)
{
    const int32_t *const end = acc + n;
    const int32_t mult = ch->mult, hbias = ch->hbias, nm1 = ch->nm1;
    const int32_t act_min = ch->act_min, act_max = ch->act_max;
    for (; acc != end; acc++, out += os)
    {
        if (mode == 0)
        {
            *out = (int8_t)mcuq_sat8(mcuq_requantize_rshift2(*acc, mult, hbias, nm1));
        }
        else if (mode == 1)
        {
            *out = (int8_t)mcuq_clamp_s32(mcuq_requantize_rshift2(*acc, mult, hbias, nm1), act_min, act_max);
        }
        else
        {
            *out = (int8_t)mcuq_clamp_s32(mcuq_requantize_fast(*acc, mult, ch->shift) + ch->off, act_min, act_max);
        }
    }
}

/* mcuq_dw_nodsp_store with the mode as a constant in each branch. */
MCUQ_DW_INLINE void mcuq_dw_nodsp_store_any(const int32_t *acc, int32_t n, int8_t *out, int32_t os,
                                            const mcuq_dw_nodsp_channel_params *ch)
{
    switch (ch->mode)
    {
    case 0:
        mcuq_dw_nodsp_store(acc, n, out, os, ch, 0);
        break;
    case 1:
        mcuq_dw_nodsp_store(acc, n, out, os, ch, 1);
        break;
    default:
        mcuq_dw_nodsp_store(acc, n, out, os, ch, 2);
        break;
    }
}

/* One channel on its plane: several whole output rows per pass when a row fits the accumulators (KWS:
 * 5 pixels a row), else chunks of a row. */
static MCUQ_DW_NOINLINE void mcuq_dw_nodsp_channel_run(const int8_t *plane, const mcuq_dw_geom *g,
                                                       const mcuq_dw_nodsp_channel_params *ch, int8_t *out)
{
    int32_t acc[MCUQ_DW_NODSP_ACC];
    const int32_t out_w = g->out_w, os = g->os, wp = g->wp, stride_w = g->stride_w;
    const int32_t in_step = g->stride_h * wp;
    const int32_t chunk = out_w < MCUQ_DW_NODSP_ACC ? out_w : MCUQ_DW_NODSP_ACC;
    const int32_t per_pass = MCUQ_DW_NODSP_ACC / chunk; /* rows per pass (1 when a row is chunked) */
    int32_t y, x0, r;
    for (y = 0; y < g->out_h; y += per_pass)
    {
        const int32_t rows = g->out_h - y < per_pass ? g->out_h - y : per_pass;
        for (x0 = 0; x0 < out_w; x0 += chunk)
        {
            const int32_t n = out_w - x0 < chunk ? out_w - x0 : chunk;
            for (r = 0; r < rows; r++)
            {
                mcuq_dw_nodsp_acc(plane + (size_t)(y + r) * in_step + (size_t)x0 * stride_w, wp, stride_w, n, ch,
                                  acc + r * n);
            }
            /* rows > 1 only with whole rows (n == out_w): the outputs are consecutive pixels. */
            mcuq_dw_nodsp_store_any(acc, rows * n, out + ((size_t)y * out_w + x0) * os, os, ch);
        }
    }
}

/* Channel c of the no-DSP path, on its plane. */
static MCUQ_DW_NOINLINE void mcuq_dw_nodsp_channel(const int8_t *plane, const mcuq_dw_geom *g,
                                                   const mcuq_dw_conv_s8_args *args, int32_t c, int8_t *out)
{
    mcuq_dw_nodsp_channel_params ch;
    mcuq_dw_nodsp_channel_init(&ch, args, c);
    mcuq_dw_nodsp_channel_run(plane, g, &ch, out);
}

MCUQ_API void mcuq_depthwise_conv_s8_nodsp(const mcuq_dw_conv_s8_args *args)
{
    mcuq_dw_fast_run(args, mcuq_dw_nodsp_fill, mcuq_dw_nodsp_channel);
}
#endif /* MCUQ_PATH_NODSP */
