/*
 * mcuq_convolve_s8, path for cores without the DSP extension (Cortex-M3: Armv7-M; Cortex-M0/M0+:
 * Armv6-M; on the host with -DMCUQ_EMULATE_NODSP): one group, output pixels two at a time as the DSP
 * path (mcuq_convolve_s8_fast.h has the walk), output channels three at a time: a 2-pixel x 3-channel
 * dot product over the two int8 columns. Without SMLAD every MAC takes one MLA whatever the data width,
 * so the inner loop loads bytes already sign-extended (LDRSB: one instruction per operand, where a word
 * load needs one more per byte to extract it) and makes every loaded byte serve two or three MACs: 5
 * loads and 6 MLA per 6 MACs (Armv7-M: 46 instructions per 24 MACs, in assembly). A window that is one
 * run of input bytes (1x1 convs) is read where it is when the output does not overlap the input.
 * Requantization as the DSP path (one 64-bit multiply-accumulate, per-channel part hoisted) with the
 * output offset folded into the rounding constant, through mcuq_mla_s64_hi, so that the M0, which lacks
 * SMLAL, computes it in 16-bit halves instead of calling __aeabi_lmul; SSAT for a whole-int8 clamp.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_convolve_s8_args.h"

#if defined(MCUQ_PATH_NODSP)
#include "mcuq_convolve_s8_fast.h"

/* Byte copies: Armv6-M faults on unaligned word accesses, and the im2col rows are short. */
static inline void mcuq_conv_s8_copy(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n > 0; n--)
    {
        *dst++ = *src++;
    }
}

/* acc[2 * pixel + channel] = dot(column of pixel a or b, filter row 0 or 1) over len bytes, where row 1
 * follows row 0: the im2col pairs' (mcuq_conv_s8_pair_scalar) and the last two channels'. Registers: 4
 * accumulators, 3 operands, 2 column pointers, the row, len and the end. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_dot_2x2_nodsp(const int8_t *col_a,
                                                                       const int8_t *col_b,
                                                                       const int8_t *row_0,
                                                                       int32_t len,
                                                                       int32_t *acc)
{
    const int8_t *const end = col_a + len;
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
#if defined(__ARM_ARCH_7M__) && MCUQ_CONV_S8_GCC_ASM
    /* Armv7-M: 4 bytes of K per turn in assembly, 34 instructions per 16 MACs (gcc's unrolled C loop
     * spills the end pointer and adds to each pointer: 39). */
    {
        const int8_t *const end4 = col_a + (len & ~3);
        int32_t xa, xb, w;
        if (col_a != end4)
        {
#define MCUQ_CONV_S8_NODSP_STEP                                                                              \
    "ldrsb %[xa], [%[ca]], #1\n\t"                                                                            \
    "ldrsb %[xb], [%[cb]], #1\n\t"                                                                            \
    "ldrsb %[w], [%[row], %[len]]\n\t"                                                                        \
    "mla %[a1], %[xa], %[w], %[a1]\n\t"                                                                       \
    "mla %[b1], %[xb], %[w], %[b1]\n\t"                                                                       \
    "ldrsb %[w], [%[row]], #1\n\t"                                                                            \
    "mla %[a0], %[xa], %[w], %[a0]\n\t"                                                                       \
    "mla %[b0], %[xb], %[w], %[b0]\n\t"
            __asm__("1:\n\t" MCUQ_CONV_S8_NODSP_STEP MCUQ_CONV_S8_NODSP_STEP MCUQ_CONV_S8_NODSP_STEP
                    MCUQ_CONV_S8_NODSP_STEP "cmp %[ca], %[end]\n\t"
                    "bne 1b\n\t"
                    : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [ca] "+r"(col_a),
                      [cb] "+r"(col_b), [row] "+r"(row_0), [xa] "=&r"(xa), [xb] "=&r"(xb), [w] "=&r"(w)
                    : [len] "r"(len), [end] "r"(end4)
                    : "cc", "memory");
#undef MCUQ_CONV_S8_NODSP_STEP
        }
    }
#endif
    while (col_a != end)
    {
        const int32_t xa = *col_a++, xb = *col_b++;
        int32_t w = row_0[len];
        a1 += xa * w;
        b1 += xb * w;
        w = *row_0++;
        a0 += xa * w;
        b0 += xb * w;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

static void mcuq_conv_s8_dot_2x2(const int8_t *col_a, const int8_t *row_0, int32_t len, int32_t *acc)
{
    mcuq_conv_s8_dot_2x2_nodsp(col_a, col_a + len, row_0, len, acc);
}

/* acc[2 * channel + pixel] = dot(column of pixel a or b, filter row 0, 1 or 2) over len bytes, rows len
 * bytes apart: 5 loads and 6 MLA per 6 MACs. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_dot_3x2_nodsp(const int8_t *col_a,
                                                                       const int8_t *col_b,
                                                                       const int8_t *row_0,
                                                                       int32_t len,
                                                                       int32_t *acc)
{
    const int8_t *const end = col_a + len;
    int32_t a0 = 0, a1 = 0, a2 = 0, b0 = 0, b1 = 0, b2 = 0;
#if defined(__ARM_ARCH_7M__) && MCUQ_CONV_S8_GCC_ASM
    /* Armv7-M: 4 bytes of K per turn, 46 instructions per 24 MACs, in all 14 registers (row 2 is
     * addressed as row + 2 * len). */
    {
        const int8_t *const end4 = col_a + (len & ~3);
        int32_t xa, xb, w;
        if (col_a != end4)
        {
#define MCUQ_CONV_S8_NODSP_STEP3                                                                             \
    "ldrsb %[xa], [%[ca]], #1\n\t"                                                                            \
    "ldrsb %[xb], [%[cb]], #1\n\t"                                                                            \
    "ldrsb %[w], [%[row], %[len], lsl #1]\n\t"                                                                \
    "mla %[a2], %[xa], %[w], %[a2]\n\t"                                                                       \
    "mla %[b2], %[xb], %[w], %[b2]\n\t"                                                                       \
    "ldrsb %[w], [%[row], %[len]]\n\t"                                                                        \
    "mla %[a1], %[xa], %[w], %[a1]\n\t"                                                                       \
    "mla %[b1], %[xb], %[w], %[b1]\n\t"                                                                       \
    "ldrsb %[w], [%[row]], #1\n\t"                                                                            \
    "mla %[a0], %[xa], %[w], %[a0]\n\t"                                                                       \
    "mla %[b0], %[xb], %[w], %[b0]\n\t"
            __asm__("1:\n\t" MCUQ_CONV_S8_NODSP_STEP3 MCUQ_CONV_S8_NODSP_STEP3 MCUQ_CONV_S8_NODSP_STEP3
                    MCUQ_CONV_S8_NODSP_STEP3 "cmp %[ca], %[end]\n\t"
                    "bne 1b\n\t"
                    : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [b0] "+r"(b0), [b1] "+r"(b1), [b2] "+r"(b2),
                      [ca] "+r"(col_a), [cb] "+r"(col_b), [row] "+r"(row_0), [xa] "=&r"(xa), [xb] "=&r"(xb),
                      [w] "=&r"(w)
                    : [len] "r"(len), [end] "r"(end4)
                    : "cc", "memory");
#undef MCUQ_CONV_S8_NODSP_STEP3
        }
    }
#endif
    while (col_a != end)
    {
        const int32_t xa = *col_a++, xb = *col_b++;
        int32_t w = row_0[2 * len];
        a2 += xa * w;
        b2 += xb * w;
        w = row_0[len];
        a1 += xa * w;
        b1 += xb * w;
        w = *row_0++;
        a0 += xa * w;
        b0 += xb * w;
    }
    acc[0] = a0;
    acc[1] = b0;
    acc[2] = a1;
    acc[3] = b1;
    acc[4] = a2;
    acc[5] = b2;
}

/* Both values of channel oc (bias added here) requantized to out_a[oc] and out_b[oc]:
 * mcuq_requantize_rshift2 with the output offset folded into its rounding constant (2 <= n = -shift
 * <= 23, see mcuq_requantize_rshift2), then the clamp; full (a constant where inlined): the clamp is the
 * whole int8 range, one SSAT on Armv7-M. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_out2_nodsp(int32_t a,
                                                                    int32_t b,
                                                                    int32_t oc,
                                                                    const mcuq_conv_s8_channels *ch,
                                                                    const mcuq_conv_s8_out_step *range,
                                                                    int8_t *out_a,
                                                                    int8_t *out_b,
                                                                    int full)
{
    const int32_t n = -ch->quant->shift[oc];
    const int32_t mult = ch->quant->multiplier[oc], bias = ch->bias[oc];
    const int32_t hbias = (int32_t)(1u << (n - 2)) + (int32_t)((uint32_t)range->out_offset << (n - 1));
    const int32_t va = mcuq_requantize_rshift2(a + bias, mult, hbias, n - 1);
    const int32_t vb = mcuq_requantize_rshift2(b + bias, mult, hbias, n - 1);
    out_a[oc] = (int8_t)(full ? mcuq_sat8(va) : mcuq_clamp_s32(va, range->act_min, range->act_max));
    out_b[oc] = (int8_t)(full ? mcuq_sat8(vb) : mcuq_clamp_s32(vb, range->act_min, range->act_max));
}

/* All output channels of the pixel pair with columns col_a and col_b, for the usual case (a bias,
 * every shift in [-23, -2]: mcuq_conv_s8_folds); out_b may equal out_a (an odd last pixel, col_b ==
 * col_a). */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_pair_nodsp(const int8_t *col_a,
                                                                    const int8_t *col_b,
                                                                    const mcuq_conv_s8_channels *ch,
                                                                    int8_t *out_a,
                                                                    int8_t *out_b,
                                                                    int full)
{
    const int32_t len = ch->len, out_c = ch->out_c;
    const int8_t *row = ch->filter;
    mcuq_conv_s8_out_step range;
    int32_t acc[4], acc6[6];
    int32_t oc;
    mcuq_conv_s8_out_step_init(&range, 0, 0, ch->params);
    /* Three channels at a time, then a pair and a last one of what is left. */
    for (oc = 0; oc + 2 < out_c; oc += 3)
    {
        mcuq_conv_s8_dot_3x2_nodsp(col_a, col_b, row, len, acc6);
        mcuq_conv_s8_out2_nodsp(acc6[0], acc6[1], oc, ch, &range, out_a, out_b, full);
        mcuq_conv_s8_out2_nodsp(acc6[2], acc6[3], oc + 1, ch, &range, out_a, out_b, full);
        mcuq_conv_s8_out2_nodsp(acc6[4], acc6[5], oc + 2, ch, &range, out_a, out_b, full);
        row += 3 * len;
    }
    if (oc + 1 < out_c)
    {
        mcuq_conv_s8_dot_2x2_nodsp(col_a, col_b, row, len, acc);
        mcuq_conv_s8_out2_nodsp(acc[0], acc[2], oc, ch, &range, out_a, out_b, full);
        mcuq_conv_s8_out2_nodsp(acc[1], acc[3], oc + 1, ch, &range, out_a, out_b, full);
        row += 2 * len;
        oc += 2;
    }
    if (oc < out_c)
    {
        /* The last channel of an odd count: row 1 would lie past the filter, so one row. */
        int32_t a = 0, b = 0, i;
        for (i = 0; i < len; i++)
        {
            a += (int32_t)col_a[i] * row[i];
            b += (int32_t)col_b[i] * row[i];
        }
        mcuq_conv_s8_out2_nodsp(a, b, oc, ch, &range, out_a, out_b, full);
    }
}

static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair_nodsp_full(const int8_t *col_a, const int8_t *col_b,
                                                               const mcuq_conv_s8_channels *ch, int8_t *out_a,
                                                               int8_t *out_b)
{
    mcuq_conv_s8_pair_nodsp(col_a, col_b, ch, out_a, out_b, 1);
}

static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair_nodsp_clamp(const int8_t *col_a, const int8_t *col_b,
                                                                const mcuq_conv_s8_channels *ch, int8_t *out_a,
                                                                int8_t *out_b)
{
    mcuq_conv_s8_pair_nodsp(col_a, col_b, ch, out_a, out_b, 0);
}

/* Whether the channel loop may take its folded requantization: a bias and every shift in [-23, -2]. */
static int mcuq_conv_s8_folds(const mcuq_conv_s8_channels *ch)
{
    int32_t oc;
    if (ch->bias == NULL)
    {
        return 0;
    }
    for (oc = 0; oc < ch->out_c; oc++)
    {
        if (ch->quant->shift[oc] > -2 || ch->quant->shift[oc] < -23)
        {
            return 0;
        }
    }
    return 1;
}

/* Whether the output lies apart from the input: then a column may be read in place while the channel
 * loop writes its pixel's outputs (an in-place layer's output may overlap its own input). */
static int mcuq_conv_s8_apart(const mcuq_conv_s8_args *args, int32_t pixels, int32_t out_stride)
{
    const uintptr_t in0 = (uintptr_t)args->input, out0 = (uintptr_t)args->output;
    const uintptr_t in_bytes = (uintptr_t)mcuq_dims_size(args->input_dims);
    const uintptr_t out_bytes = (uintptr_t)(pixels - 1) * (uintptr_t)out_stride + (uintptr_t)args->output_dims->c;
    return out0 + out_bytes <= in0 || in0 + in_bytes <= out0;
}

MCUQ_API void mcuq_convolve_s8_nodsp(const mcuq_conv_s8_args *args)
{
    const int32_t pixels = args->input_dims->n * args->output_dims->h * args->output_dims->w;
    const int32_t out_stride = args->params->output_pixel_stride;
    int8_t *const stage = (int8_t *)args->ctx->buf; /* pixel a's column, then pixel b's */
    const int full = args->params->activation.min == -128 && args->params->activation.max == 127;
    mcuq_conv_s8_window win;
    mcuq_conv_s8_cursor cur;
    mcuq_conv_s8_channels ch;
    int32_t pixel = 0;
    int rshifts, in_place;
    mcuq_conv_s8_fast_init(args, &win, &cur, &ch);
    rshifts = mcuq_conv_s8_folds(&ch);
    in_place = rshifts && mcuq_conv_s8_apart(args, pixels, out_stride);
    while (pixel < pixels)
    {
        /* The pair: pixel and pixel + 1; the last pixel of an odd count is taken twice (its second
         * result is not written). */
        const int two = pixel + 1 < pixels;
        int8_t *const out_a = args->output + (size_t)pixel * out_stride;
        int8_t *const out_b = two ? out_a + out_stride : out_a;
        const int8_t *cols[2];
        mcuq_conv_s8_next_pair(&cur, &win, stage, ch.len, two, in_place, cols);
        if (rshifts && full)
        {
            mcuq_conv_s8_pair_nodsp_full(cols[0], cols[1], &ch, out_a, out_b);
        }
        else if (rshifts)
        {
            mcuq_conv_s8_pair_nodsp_clamp(cols[0], cols[1], &ch, out_a, out_b);
        }
        else
        {
            mcuq_conv_s8_pair_scalar(stage, &ch, 0, out_a, out_b);
        }
        pixel += 1 + two;
    }
}
#endif /* MCUQ_PATH_NODSP */
