/*
 * mcuq_convolve_s8, DSP path, small K (K = KH * KW * C_in <= 64, e.g. an image model's first layer:
 * 3x3 over RGB, K = 27): the channel loop of a pixel pair over a filter widened to int16 once per call
 * (mcuq_convolve_s8_dsp.c walks the pixels and builds the widened columns; the layout and the scratch
 * are in mcuq_convolve_s8_fast_dsp.h). Columns and filter rows are zero-padded to a multiple of 4
 * bytes, so there is no K % 4 tail, and neither operand is extended in the inner loop: per 4 bytes of K,
 * 2 pixels x 2 channels, 4 word-pair loads and 8 SMLAD (16 MACs), against 20 instructions with the
 * filter extended per step and 76 per 27 MACs with the byte tail of the general path.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_convolve_s8_args.h"

#if defined(MCUQ_HAVE_DSP) && !defined(MCUQ_PATH_MVE)
#include "mcuq_convolve_s8_fast_dsp.h"

/* The cases of the unrolled dot product fall through on purpose (see mcuq_conv_s8_smallk_dot). */
#if defined(__has_attribute)
#if __has_attribute(fallthrough)
#define MCUQ_CONV_S8_SMALLK_NEXT __attribute__((fallthrough))
#endif
#endif
#ifndef MCUQ_CONV_S8_SMALLK_NEXT
#define MCUQ_CONV_S8_SMALLK_NEXT
#endif

MCUQ_API void mcuq_conv_s8_smallk_widen_filter(int32_t *wide,
                                               const int8_t *filter,
                                               const mcuq_conv_s8_smallk_shape *shape,
                                               int32_t out_c)
{
    /* A filter row is a window as it lies in the input, its rows row_len bytes apart. */
    const int32_t row_len = 4 * shape->row_words + shape->row_tail;
    const int32_t k = shape->k_h * row_len, steps = (k + 3) / 4;
    int32_t oc, g;
    for (oc = 0; oc < out_c; oc += 2)
    {
        const int8_t *const r0 = filter + (size_t)oc * k;
        mcuq_conv_s8_smallk_widen_window(wide, r0, row_len, shape);
        if (oc + 1 < out_c)
        {
            mcuq_conv_s8_smallk_widen_window(wide + 2, r0 + k, row_len, shape);
        }
        else /* an odd last channel: a row of zeros */
        {
            for (g = 0; g < steps; g++)
            {
                wide[4 * g + 2] = 0;
                wide[4 * g + 3] = 0;
            }
        }
        wide += 4 * steps;
    }
}

/* One step, 4 bytes of K, i steps before the end of the columns (c) and of the row pair (f): the
 * pixels' lanes a(0,2) a(1,3) b(0,2) b(1,3) against rows 0 and 1's, 8 SMLAD. In assembly for gcc (see
 * MCUQ_CONV_S8_GCC_ASM), which loads the words one LDR each: one LDRD per word pair makes a step 12
 * instructions instead of 16 (ResNet-8's first layer on Cortex-M4: 1,046,120 instructions with the C
 * step). */
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && defined(__GNUC__) && !defined(__clang__) && \
    defined(__OPTIMIZE__)
#define MCUQ_CONV_S8_SMALLK_STEP_BODY(i)                                                                   \
    {                                                                                                      \
        int32_t xa, xa_hi, xb, xb_hi, w, w_hi;                                                             \
        __asm__("ldrd %[xa], %[xa_hi], [%[c], %[o]]\n\t"                                                   \
                "ldrd %[xb], %[xb_hi], [%[c], %[o8]]\n\t"                                                  \
                "ldrd %[w], %[w_hi], [%[f], %[o]]\n\t"                                                     \
                "smlad %[a0], %[xa], %[w], %[a0]\n\t"                                                      \
                "smlad %[a0], %[xa_hi], %[w_hi], %[a0]\n\t"                                                \
                "smlad %[b0], %[xb], %[w], %[b0]\n\t"                                                      \
                "smlad %[b0], %[xb_hi], %[w_hi], %[b0]\n\t"                                                \
                "ldrd %[w], %[w_hi], [%[f], %[o8]]\n\t"                                                    \
                "smlad %[a1], %[xa], %[w], %[a1]\n\t"                                                      \
                "smlad %[a1], %[xa_hi], %[w_hi], %[a1]\n\t"                                                \
                "smlad %[b1], %[xb], %[w], %[b1]\n\t"                                                      \
                "smlad %[b1], %[xb_hi], %[w_hi], %[b1]\n\t"                                                \
                : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [xa] "=&r"(xa),                \
                  [xa_hi] "=&r"(xa_hi), [xb] "=&r"(xb), [xb_hi] "=&r"(xb_hi), [w] "=&r"(w), [w_hi] "=&r"(w_hi) \
                : [c] "r"(c), [f] "r"(f), [o] "i"(-16 * (i)), [o8] "i"(-16 * (i) + 8)                        \
                : "memory");                                                                               \
    }
/* The accumulators bound to registers of their own (a GNU local register variable, honoured in the
 * asm operands, which are all their uses in the steps). Left free, gcc gives pixel a's and b's one
 * register at the switch entry, as both start from the bias, and copies an accumulator out and back at
 * every step (mov r7,r1; mov r1,r7): 100 register moves in mcuq_conv_s8_smallk_pair, 5 bound. */
#if !defined(__OPTIMIZE_SIZE__) /* at -Os, VWW's small-K layers lost ~2K each with them */
#define MCUQ_CONV_S8_SMALLK_REG(name) __asm__(name)
#endif
#else
#define MCUQ_CONV_S8_SMALLK_STEP_BODY(i)                                                                   \
    a0 = mcuq_smlad(c[-4 * (i)], f[-4 * (i)], mcuq_smlad(c[-4 * (i) + 1], f[-4 * (i) + 1], a0));            \
    b0 = mcuq_smlad(c[-4 * (i) + 2], f[-4 * (i)], mcuq_smlad(c[-4 * (i) + 3], f[-4 * (i) + 1], b0));        \
    a1 = mcuq_smlad(c[-4 * (i)], f[-4 * (i) + 2], mcuq_smlad(c[-4 * (i) + 1], f[-4 * (i) + 3], a1));        \
    b1 = mcuq_smlad(c[-4 * (i) + 2], f[-4 * (i) + 2], mcuq_smlad(c[-4 * (i) + 3], f[-4 * (i) + 3], b1));
#endif
#ifndef MCUQ_CONV_S8_SMALLK_REG
#define MCUQ_CONV_S8_SMALLK_REG(name)
#endif
#define MCUQ_CONV_S8_SMALLK_STEP(i)                                                                        \
    case i:                                                                                                \
        MCUQ_CONV_S8_SMALLK_STEP_BODY(i)                                                                   \
        MCUQ_CONV_S8_SMALLK_NEXT;

/* acc[2 * pixel + channel] += dot(widened column of pixel a or b, widened row 0 or 1) over steps * 4
 * bytes of K (1 <= steps <= 16). Fully unrolled and entered at its step count (Duff's device): the
 * loads take constant offsets from the two end pointers, so there is no pointer update, loop counter
 * or end compare, and 4 accumulators, 2 pointers and the operands fit the registers without a spill. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_smallk_dot(const int32_t *cols,
                                                                    const int32_t *row_pair,
                                                                    int32_t steps,
                                                                    int32_t *acc)
{
    const int32_t *const c = cols + 4 * steps;
    const int32_t *const f = row_pair + 4 * steps;
    register int32_t a0 MCUQ_CONV_S8_SMALLK_REG("r2") = acc[0];
    register int32_t a1 MCUQ_CONV_S8_SMALLK_REG("r3") = acc[1];
    register int32_t b0 MCUQ_CONV_S8_SMALLK_REG("r4") = acc[2];
    register int32_t b1 MCUQ_CONV_S8_SMALLK_REG("r6") = acc[3];
    switch (steps)
    {
        MCUQ_CONV_S8_SMALLK_STEP(16)
        MCUQ_CONV_S8_SMALLK_STEP(15)
        MCUQ_CONV_S8_SMALLK_STEP(14)
        MCUQ_CONV_S8_SMALLK_STEP(13)
        MCUQ_CONV_S8_SMALLK_STEP(12)
        MCUQ_CONV_S8_SMALLK_STEP(11)
        MCUQ_CONV_S8_SMALLK_STEP(10)
        MCUQ_CONV_S8_SMALLK_STEP(9)
        MCUQ_CONV_S8_SMALLK_STEP(8)
        MCUQ_CONV_S8_SMALLK_STEP(7)
        MCUQ_CONV_S8_SMALLK_STEP(6)
        MCUQ_CONV_S8_SMALLK_STEP(5)
        MCUQ_CONV_S8_SMALLK_STEP(4)
        MCUQ_CONV_S8_SMALLK_STEP(3)
        MCUQ_CONV_S8_SMALLK_STEP(2)
        MCUQ_CONV_S8_SMALLK_STEP(1)
    default:
        break;
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

/* The channel loop; full is a constant where it is inlined. The accumulators start from the bias. */
static inline MCUQ_CONV_S8_ALWAYS_INLINE void mcuq_conv_s8_smallk_channels(const int32_t *cols,
                                                                         const mcuq_conv_s8_smallk *sk,
                                                                         int8_t *out_a,
                                                                         int8_t *out_b,
                                                                         int full)
{
    /* Locals, not loads through sk in the loop: the int8 stores could alias them. */
    const int32_t steps = sk->steps, out_c = sk->out_c;
    const int32_t *row_pair = sk->filter;
    const int32_t *const bias = sk->bias;
    const int32_t *const mult = sk->mult;
    const int32_t *const shift = sk->shift;
    const mcuq_conv_s8_range range = sk->range;
    int32_t oc;
    int32_t acc[4];
    for (oc = 0; oc < out_c; oc += 2)
    {
        const int two = oc + 1 < out_c;
        acc[0] = acc[2] = bias[oc];
        acc[1] = acc[3] = two ? bias[oc + 1] : 0;
        mcuq_conv_s8_smallk_dot(cols, row_pair, steps, acc);
        mcuq_conv_s8_out2_dsp(acc[0], acc[2], mult[oc], shift[oc], &range, full, out_a + oc, out_b + oc);
        if (two)
        {
            mcuq_conv_s8_out2_dsp(acc[1], acc[3], mult[oc + 1], shift[oc + 1], &range, full, out_a + oc + 1,
                                  out_b + oc + 1);
        }
        row_pair += 4 * steps;
    }
}

MCUQ_API void mcuq_conv_s8_smallk_pair(const int32_t *cols, const mcuq_conv_s8_smallk *sk, int8_t *out_a,
                                       int8_t *out_b, int full)
{
    if (full)
    {
        mcuq_conv_s8_smallk_channels(cols, sk, out_a, out_b, 1);
    }
    else
    {
        mcuq_conv_s8_smallk_channels(cols, sk, out_a, out_b, 0);
    }
}
#endif /* MCUQ_HAVE_DSP && !MCUQ_PATH_MVE */
