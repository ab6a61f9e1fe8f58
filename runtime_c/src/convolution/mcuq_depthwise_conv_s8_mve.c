/*
 * mcuq_depthwise_conv_s8, MVE path (Helium: Cortex-M55, M85), any stride: the 3x3 layers of
 * mcuq_depthwise_conv_s8_fast.h on column-major planes (columns 32 bytes apart when they fit, so that
 * the 9 taps are immediate offsets from one register); lanes = 4 consecutive output rows of one
 * column: each tap is one VLDRB.S32 (a gather of rows stride_h apart when stride_h > 1) and one VMLA by
 * the scalar weight; requantization on the 4 lanes, a scatter store; the usual stride-1 case in
 * assembly (mcuq_dw_mve_column_asm). (Stride 2 took the DSP path before: MobileNet's stride-2 layers on
 * the M55 at 0.07-0.19 MACs per instruction.)
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_depthwise_conv_s8_args.h"

#if defined(MCUQ_PATH_MVE)
#include "mcuq_depthwise_conv_s8_fast.h"

/* Forced inlining only when optimizing: at -O0 gcc gives each inlined copy its own stack slots for its
 * vector temporaries, and the six copies of mcuq_dw_mve_channel_mode made mcuq_dw_mve_channel's frame
 * 9,928 bytes, past the firmware's 4 KiB stack (wrong outputs or a fault in debug builds). As calls,
 * the deepest chain takes under 1.5 KiB (-fstack-usage, M55 -O0); optimized code is unchanged. */
#if defined(__OPTIMIZE__)
#define MCUQ_DW_MVE_INLINE MCUQ_DW_INLINE
#else
#define MCUQ_DW_MVE_INLINE static inline
#endif

/* Copy input channel c into plane 0, column major: byte (pad_left + x) * cs + pad_top + y =
 * input(y, x, c); 4 rows of a column per gather. */
static void mcuq_dw_mve_fill(int8_t *scratch, const int8_t *in_batch, int32_t c, const mcuq_dw_geom *g)
{
    const int32_t in_h = g->in_h, in_w = g->in_w, row_bytes = g->in_w * g->in_c;
    const uint32x4_t offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)row_bytes);
    const int32_t full = in_h & ~3;
    int32_t x, y;
    for (x = 0; x < in_w; x++)
    {
        const int8_t *src = in_batch + (size_t)x * g->in_c + c;
        int8_t *dst = scratch + (size_t)(g->pad_left + x) * g->cs + g->pad_top;
        for (y = 0; y < full; y += 4)
        {
            vstrbq_s32(dst, vldrbq_gather_offset_s32(src, offsets));
            dst += 4;
            src += (size_t)4 * row_bytes;
        }
        if (y < in_h)
        {
            const mve_pred16_t pred = vctp32q((uint32_t)(in_h - y));
            vstrbq_p_s32(dst, vldrbq_gather_offset_z_s32(src, offsets, pred), pred);
        }
    }
}

/* One channel's constants, set up once: its filter (tap 0; the other taps follow in_c bytes apart),
 * bias, requantization, output offset and clamp. */
typedef struct
{
    const int8_t *f;
    int32_t bias, mult, shift, off, lo, hi;
} mcuq_dw_mve_chan;

/* mcuq_requantize_mve with one multiplier and shift for the 4 lanes, then the offset and the clamp;
 * mode as mcuq_dw_mve_channel_mode. */
MCUQ_DW_MVE_INLINE int32x4_t mcuq_dw_mve_out(int32x4_t acc, const mcuq_dw_mve_chan *k, const int mode)
{
    const int32_t mult = k->mult, shift = k->shift;
    if (mode != 2)
    {
        acc = vqrdmulhq_n_s32(acc, mult);
        acc = vqaddq_s32(acc, vshrq_n_s32(acc, 31)); /* -1 on negative lanes: round half away from zero */
        acc = vrshlq_n_s32(acc, shift);
    }
    else
    {
        const int32_t left = shift > 0 ? shift : 0, right = shift > 0 ? 0 : shift;
        acc = vqrdmulhq_n_s32(vshlq_r_s32(acc, left), mult);
        acc = vqaddq_s32(acc, vshrq_n_s32(vandq_s32(acc, vdupq_n_s32(right)), 31));
        acc = vrshlq_n_s32(acc, right);
    }
    acc = vaddq_n_s32(acc, k->off);
    if (mode == 0)
    {
        return vshrq_n_s32(vqshlq_n_s32(acc, 24), 24); /* saturate to [-128, 127] */
    }
    return vminq_s32(vmaxq_s32(acc, vdupq_n_s32(k->lo)), vdupq_n_s32(k->hi));
}

/* Four rows of a plane column from p: rows stride_h apart (in_rows = stride_h * {0, 1, 2, 3}); only the
 * lanes of pred are read at other strides than 1. At stride 1 the lanes past the output's end read the
 * next column or the scratch's slack; at larger strides they would run further, so they are not read. */
MCUQ_DW_MVE_INLINE int32x4_t mcuq_dw_mve_rows(const int8_t *p, const int strided, uint32x4_t in_rows, mve_pred16_t pred)
{
    return strided ? vldrbq_gather_offset_z_s32(p, in_rows, pred) : vldrbq_s32(p);
}

#if defined(__GNUC__) && !defined(__clang__) && defined(__OPTIMIZE__)
/* The usual case in assembly: gcc (clang cannot allocate the registers; at -O0 the frame pointer takes
 * one), when optimizing. */
#define MCUQ_DW_MVE_GCC_ASM 1
#else
#define MCUQ_DW_MVE_GCC_ASM 0
#endif

#if MCUQ_DW_MVE_GCC_ASM
/* One plane column's output rows, 4 per block, at stride 1, columns 32 bytes apart, mode 0 (right
 * shift, no clamp beyond int8), as mcuq_dw_mve_channel_mode computes them, *col and *out moved past
 * them; w: the nine weights kernel column by kernel column (w[3 * kx + ky]). 33 instructions per block
 * against 46 in C, where gcc wants 17 of the 13 general registers (nine weights, pointers,
 * requantization scalars) and reloads 9 from the stack in every block (KWS M55). Here the weights come
 * with one LDM and one LDRD + LDR per block into six fixed registers (r7 and r9 left out: the frame
 * pointer at -Og, the platform register), so that only five operands need allocating whatever the
 * optimization level (with all nine weights held, gcc finds no allocation at -Os and -Og); the
 * requantization constants are vectors. A tail-predicated loop (DLSTP.32 over the rows): the last
 * block's lanes past the output's end are neither read nor stored. */
typedef struct
{
    int32x4_t bias, mult, shift, off; /* the channel's bias, multiplier, shift and output offset */
    uint32x4_t out_offsets;            /* the 4 rows' output byte offsets */
} mcuq_dw_mve_lanes;

MCUQ_DW_MVE_INLINE void mcuq_dw_mve_column_asm(const int8_t **col, int8_t **out, int32_t rows, const int32_t *w,
                                          int32_t out_step, const mcuq_dw_mve_lanes *v)
{
    const int8_t *c0 = *col;
    int8_t *o = *out;
#define MCUQ_DW_TAP(offset, weight) "vldrb.s32 q1, [%[c0], #" #offset "]\n\tvmla.s32 q0, q1, " weight "\n\t"
    __asm__ volatile("dlstp.32 lr, %[rows]\n"
                     "1:\n\t"
                     "vmov q0, %q[bias]\n\t"
                     "ldm %[w], {r4, r5, r6, r8, r10, r11}\n\t"
                     MCUQ_DW_TAP(0, "r4") MCUQ_DW_TAP(1, "r5") MCUQ_DW_TAP(2, "r6")
                     MCUQ_DW_TAP(32, "r8") MCUQ_DW_TAP(33, "r10") MCUQ_DW_TAP(34, "r11")
                     "ldrd r4, r5, [%[w], #24]\n\t"
                     "ldr r6, [%[w], #32]\n\t"
                     MCUQ_DW_TAP(64, "r4") MCUQ_DW_TAP(65, "r5") MCUQ_DW_TAP(66, "r6")
                     "vqrdmulh.s32 q0, q0, %q[mult]\n\t"
                     "vshr.s32 q1, q0, #31\n\t"
                     "vqadd.s32 q0, q0, q1\n\t"
                     "vrshl.s32 q0, q0, %q[shift]\n\t"
                     "vadd.i32 q0, q0, %q[off]\n\t"
                     "vqshl.s32 q0, q0, #24\n\t"
                     "vshr.s32 q0, q0, #24\n\t"
                     "vstrb.32 q0, [%[o], %q[offs]]\n\t"
                     "adds %[c0], #4\n\t"
                     "add %[o], %[o], %[step]\n\t"
                     "letp lr, 1b\n"
                     : [c0] "+r"(c0), [o] "+r"(o)
                     : [rows] "r"(rows), [w] "r"(w), [step] "r"(out_step), [offs] "w"(v->out_offsets),
                       [bias] "w"(v->bias), [mult] "w"(v->mult), [shift] "w"(v->shift), [off] "w"(v->off)
                     : "r4", "r5", "r6", "r8", "r10", "r11", "q0", "q1", "lr", "memory");
#undef MCUQ_DW_TAP
    *col = c0;
    *out = o;
}
#endif

/* One channel on its column-major plane: lanes = 4 consecutive output rows of one column, each tap one
 * VLDRB.S32 of the column (strided: a gather) and one VMLA by the scalar weight; requantization on the 4
 * lanes, a scatter store. mode 0: right shift, no clamp beyond int8; 1: right shift and the activation
 * clamp; 2: any shift and clamp. strided: stride_h > 1 (a constant, as mode and cs32). */
MCUQ_DW_MVE_INLINE void mcuq_dw_mve_channel_mode(const int8_t *plane, const mcuq_dw_geom *g, const mcuq_dw_mve_chan *chan,
                                             int8_t *out, const int mode, const int cs32, const int strided)
{
    /* cs32: columns 32 bytes apart, so that the 9 taps are immediate offsets from one register. */
    const mcuq_dw_mve_chan k = *chan; /* in registers: the scatter stores may alias anything */
    const int8_t *const f = k.f;
    const int32_t in_c = g->in_c, cs = cs32 ? 32 : g->cs, out_h = g->out_h, out_w = g->out_w, os = g->os;
    const int32_t w00 = f[0], w01 = f[in_c], w02 = f[2 * in_c];
    const int32_t w10 = f[3 * in_c], w11 = f[4 * in_c], w12 = f[5 * in_c];
    const int32_t w20 = f[6 * in_c], w21 = f[7 * in_c], w22 = f[8 * in_c];
#if MCUQ_DW_MVE_GCC_ASM
    const int32_t w_by_column[9] = {w00, w10, w20, w01, w11, w21, w02, w12, w22};
#endif
    const int32x4_t bias_v = vdupq_n_s32(k.bias);
    const uint32x4_t out_offsets = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)(out_w * os));
    int32_t x, y;
    const int32_t out_step = 4 * out_w * os;
    const int32_t sh = strided ? g->stride_h : 1, column_step = g->stride_w * cs;
    const uint32x4_t in_rows = vmulq_n_u32(vidupq_n_u32(0, 1), (uint32_t)sh);
    for (x = 0; x < out_w; x++)
    {
        /* One pointer: the other two columns are cs and 2 * cs bytes on (immediate offsets when cs32),
         * which leaves the scalar registers to the nine weights. */
        const int8_t *c0 = plane + (size_t)x * column_step;
        int8_t *o = out + (size_t)x * os;
        y = out_h;
#if MCUQ_DW_MVE_GCC_ASM
        if (mode == 0 && cs32 && !strided)
        {
            const mcuq_dw_mve_lanes lanes = {bias_v, vdupq_n_s32(k.mult), vdupq_n_s32(k.shift), vdupq_n_s32(k.off),
                                             out_offsets};
            mcuq_dw_mve_column_asm(&c0, &o, out_h, w_by_column, out_step, &lanes);
            y = 0; /* all rows done */
        }
#endif
        for (; y > 0; y -= 4)
        {
            const mve_pred16_t p = strided ? vctp32q((uint32_t)y) : 0;
            int32x4_t acc = vmlaq_n_s32(bias_v, mcuq_dw_mve_rows(c0, strided, in_rows, p), w00);
            acc = vmlaq_n_s32(acc, mcuq_dw_mve_rows(c0 + 1, strided, in_rows, p), w10);
            acc = vmlaq_n_s32(acc, mcuq_dw_mve_rows(c0 + 2, strided, in_rows, p), w20);
            acc = vmlaq_n_s32(acc, mcuq_dw_mve_rows(c0 + cs, strided, in_rows, p), w01);
            acc = vmlaq_n_s32(acc, mcuq_dw_mve_rows(c0 + cs + 1, strided, in_rows, p), w11);
            acc = vmlaq_n_s32(acc, mcuq_dw_mve_rows(c0 + cs + 2, strided, in_rows, p), w21);
            acc = vmlaq_n_s32(acc, mcuq_dw_mve_rows(c0 + 2 * cs, strided, in_rows, p), w02);
            acc = vmlaq_n_s32(acc, mcuq_dw_mve_rows(c0 + 2 * cs + 1, strided, in_rows, p), w12);
            acc = vmlaq_n_s32(acc, mcuq_dw_mve_rows(c0 + 2 * cs + 2, strided, in_rows, p), w22);
            acc = mcuq_dw_mve_out(acc, &k, mode);
            if (y >= 4)
            {
                vstrbq_scatter_offset_s32(o, out_offsets, acc);
            }
            else
            {
                /* The last rows of a column: the lanes past the output's end read the next column (or
                 * the scratch's slack) and are not stored. */
                vstrbq_scatter_offset_p_s32(o, out_offsets, acc, vctp32q((uint32_t)y));
            }
            c0 += 4 * sh;
            o += out_step;
        }
    }
}

static MCUQ_DW_NOINLINE void mcuq_dw_mve_channel(const int8_t *plane, const mcuq_dw_geom *g,
                                                 const mcuq_dw_conv_s8_args *args, int32_t c, int8_t *out)
{
    mcuq_dw_mve_chan k;
    int mode;
    k.f = args->filter + c;
    k.bias = args->bias != NULL ? args->bias[c] : 0;
    k.mult = args->quant->multiplier[c];
    k.shift = args->quant->shift[c];
    k.off = args->params->output_offset;
    k.lo = args->params->activation.min;
    k.hi = args->params->activation.max;
    mode = k.shift >= 0 ? 2 : (k.lo == -128 && k.hi == 127 ? 0 : 1);
    if (g->stride_h > 1)
    {
        /* Strided layers are a quarter of the outputs: the usual mode and the general one suffice. */
        if (mode == 0)
        {
            mcuq_dw_mve_channel_mode(plane, g, &k, out, 0, 0, 1);
        }
        else
        {
            mcuq_dw_mve_channel_mode(plane, g, &k, out, 2, 0, 1);
        }
    }
    else if (mode == 0 && g->cs == 32)
    {
        mcuq_dw_mve_channel_mode(plane, g, &k, out, 0, 1, 0);
    }
    else if (mode == 0)
    {
        mcuq_dw_mve_channel_mode(plane, g, &k, out, 0, 0, 0);
    }
    else if (mode == 1)
    {
        mcuq_dw_mve_channel_mode(plane, g, &k, out, 1, 0, 0);
    }
    else
    {
        mcuq_dw_mve_channel_mode(plane, g, &k, out, 2, 0, 0);
    }
}

/* Per batch and channel: copy the channel into plane 0, then compute its outputs. */
MCUQ_API void mcuq_depthwise_conv_s8_mve(const mcuq_dw_conv_s8_args *args)
{
    int8_t *const scratch = (int8_t *)args->ctx->buf;
    mcuq_dw_geom g;
    int32_t batch, c;
    mcuq_dw_fast_setup(args, &g);
    for (batch = 0; batch < args->input_dims->n; batch++)
    {
        const int8_t *const in_batch = args->input + (size_t)batch * g.in_h * g.in_w * g.in_c;
        int8_t *const out_batch = args->output + (size_t)batch * g.out_h * g.out_w * g.os;
        for (c = 0; c < g.in_c; c++)
        {
            mcuq_dw_mve_fill(scratch, in_batch, c, &g);
            mcuq_dw_mve_channel(scratch, &g, args, c, out_batch + c);
        }
    }
}
#endif /* MCUQ_PATH_MVE */
