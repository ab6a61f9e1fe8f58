/*
 * The stride-1 pair loop of mcuq_depthwise_conv_s8_dsp.c (a header after mcuq_depthwise_conv_s8_fast.h,
 * whose MCUQ_DW_INLINE it takes, in the generated file) for plane rows 32 bytes apart and the whole
 * int8 output range (mode 0), in inline assembly on Arm with the DSP extension when optimizing; every
 * other build takes the C loop of mcuq_dw_dsp_channel_mode, which gives the same bytes.
 *
 * Why assembly: the loop needs 16 live values (plane and output pointers, the row's end, the output
 * step, 6 weight words, the multiplier and rounding constant, 4 temporaries) for 14 registers, and gcc
 * 12 -O2 reloads 4 of them from the stack each pair (39 instructions a pair of outputs). Here the bias
 * is loaded straight into the first accumulator, and the output step and the row's end, adjacent in
 * memory, come back with one LDRD once the multiply-accumulates have freed two registers: 13 registers,
 * 37 instructions a pair (3 loads of the plane, 1 of the bias, 6 SXTB16, 12 multiply-accumulates,
 * 2 x 5 for the requantization and the store, the LDRD, and 4 for the loop). The rows' odd pixels and
 * the steps between rows stay in the loop too (about 20 instructions a row where the C row loop took
 * about 50 around the pairs: its set-up, the odd pixel's reloads of the weights).
 */
#ifndef MCUQ_DEPTHWISE_CONV_S8_FAST_DSP_PAIRS_H
#define MCUQ_DEPTHWISE_CONV_S8_FAST_DSP_PAIRS_H

/* Not at -Os: gcc 12 then finds no 13 registers for the operands ("impossible constraints"). MCUQ_HAVE_DSP
 * as well as __ARM_FEATURE_DSP: in the generated file this header's text stands outside the DSP path's
 * #if, and -DMCUQ_PORTABLE_KERNELS leaves __ARM_FEATURE_DSP set. */
#if defined(MCUQ_HAVE_DSP) && defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && defined(__GNUC__) && \
    defined(__OPTIMIZE__) && !defined(__OPTIMIZE_SIZE__)
#define MCUQ_DW_DSP_PAIRS_ASM 1

/* Every output of one channel (rows >= 1 plane rows of n >= 2 outputs; p: the first window, out: its
 * output), stride 1, rows 32 bytes apart, mode 0 of mcuq_dw_dsp_out: the pairs of each row, its odd
 * pixel, and the step to the next row in one loop (the row's end, its count and the steps in memory).
 * k = {doubled bias, output bytes along a row, out after the row's last pair, output bytes across rows,
 * the window's and the output's step from a row's last pair to the next row's first, rows}; k[2] and
 * k[6] change. odd: n is odd, a constant (an immediate of the assembly, 3 instructions a row fewer than
 * a test). w as in mcuq_dw_dsp_pair (w[4]: the tap in the top half, n in the bottom byte). */
MCUQ_DW_INLINE void mcuq_dw_dsp_rows_asm(const int8_t *p, int8_t *out, const int32_t *w, int32_t k[7], int32_t mult,
                                         int32_t h2, const int odd)
{
    int32_t e, o, a0, a1;
    __asm__ volatile("1:\n\t"
                     "ldr     %[a0], %[bias]\n\t"
                     "ldr     %[o], [%[p]]\n\t"
                     "sxtb16  %[e], %[o]\n\t"
                     "sxtb16  %[o], %[o], ror #8\n\t"
                     "smlad   %[a1], %[o], %[w0], %[a0]\n\t"
                     "smlad   %[a0], %[e], %[w0], %[a0]\n\t"
                     "smlabb  %[a0], %[o], %[w3], %[a0]\n\t"
                     "smlatb  %[a1], %[e], %[w3], %[a1]\n\t"
                     "ldr     %[o], [%[p], #32]\n\t"
                     "sxtb16  %[e], %[o]\n\t"
                     "sxtb16  %[o], %[o], ror #8\n\t"
                     "smlad   %[a0], %[e], %[w1], %[a0]\n\t"
                     "smlabt  %[a0], %[o], %[w3], %[a0]\n\t"
                     "smlad   %[a1], %[o], %[w1], %[a1]\n\t"
                     "smlatt  %[a1], %[e], %[w3], %[a1]\n\t"
                     "ldr     %[o], [%[p], #64]\n\t"
                     "sxtb16  %[e], %[o]\n\t"
                     "sxtb16  %[o], %[o], ror #8\n\t"
                     "smlad   %[a0], %[e], %[w2], %[a0]\n\t"
                     "smlabt  %[a0], %[o], %[w4], %[a0]\n\t"
                     "smlad   %[a1], %[o], %[w2], %[a1]\n\t"
                     "smlatt  %[a1], %[e], %[w4], %[a1]\n\t"
                     /* mcuq_dw_dsp_out, mode 0: SMMLAR, the sign's -1, >> n, saturate */
                     "smmlar  %[e], %[a0], %[mult], %[h2]\n\t"
                     "add     %[e], %[e], %[a0], asr #31\n\t"
                     "asr     %[e], %[e], %[w4]\n\t"
                     "ssat    %[e], #8, %[e]\n\t"
                     "strb    %[e], [%[out]]\n\t"
                     "smmlar  %[o], %[a1], %[mult], %[h2]\n\t"
                     "add     %[o], %[o], %[a1], asr #31\n\t"
                     "asr     %[o], %[o], %[w4]\n\t"
                     "ssat    %[o], #8, %[o]\n\t"
                     "ldrd    %[a0], %[a1], %[along_end]\n\t"
                     "strb    %[o], [%[out], %[a0]]\n\t"
                     "add     %[out], %[out], %[a0], lsl #1\n\t"
                     "add     %[p], %[p], #2\n\t"
                     "cmp     %[out], %[a1]\n\t"
                     "bne     1b\n\t"
                     /* the row's odd pixel, as mcuq_dw_dsp_pixel */
                     ".if %c[odd]\n\t"
                     "ldr     %[a0], %[bias]\n\t"
                     "ldr     %[o], [%[p]]\n\t"
                     "sxtb16  %[e], %[o]\n\t"
                     "sxtb16  %[o], %[o], ror #8\n\t"
                     "smlad   %[a0], %[e], %[w0], %[a0]\n\t"
                     "smlabb  %[a0], %[o], %[w3], %[a0]\n\t"
                     "ldr     %[o], [%[p], #32]\n\t"
                     "sxtb16  %[e], %[o]\n\t"
                     "sxtb16  %[o], %[o], ror #8\n\t"
                     "smlad   %[a0], %[e], %[w1], %[a0]\n\t"
                     "smlabt  %[a0], %[o], %[w3], %[a0]\n\t"
                     "ldr     %[o], [%[p], #64]\n\t"
                     "sxtb16  %[e], %[o]\n\t"
                     "sxtb16  %[o], %[o], ror #8\n\t"
                     "smlad   %[a0], %[e], %[w2], %[a0]\n\t"
                     "smlabt  %[a0], %[o], %[w4], %[a0]\n\t"
                     "smmlar  %[e], %[a0], %[mult], %[h2]\n\t"
                     "add     %[e], %[e], %[a0], asr #31\n\t"
                     "asr     %[e], %[e], %[w4]\n\t"
                     "ssat    %[e], #8, %[e]\n\t"
                     "strb    %[e], [%[out]]\n\t"
                     ".endif\n\t"
                     /* the next row, if any */
                     "ldr     %[a0], %[rows]\n\t"
                     "subs    %[a0], %[a0], #1\n\t"
                     "str     %[a0], %[rows]\n\t"
                     "beq     3f\n\t"
                     "ldrd    %[a0], %[a1], %[steps]\n\t"
                     "add     %[p], %[p], %[a0]\n\t"
                     "add     %[out], %[out], %[a1]\n\t"
                     "ldrd    %[a0], %[a1], %[end_across]\n\t"
                     "add     %[a0], %[a0], %[a1]\n\t"
                     "str     %[a0], %[end]\n\t"
                     "b       1b\n"
                     "3:"
                     : [p] "+r"(p), [out] "+r"(out), [e] "=&r"(e), [o] "=&r"(o), [a0] "=&r"(a0), [a1] "=&r"(a1),
                       [end] "+m"(k[2]), [rows] "+m"(k[6])
                     : [w0] "r"(w[0]), [w1] "r"(w[1]), [w2] "r"(w[2]), [w3] "r"(w[3]), [w4] "r"(w[4]),
                       [mult] "r"(mult), [h2] "r"(h2), [bias] "m"(k[0]), [odd] "i"(odd),
                       [along_end] "m"(*(const int32_t(*)[2]) & k[1]), [end_across] "m"(*(const int32_t(*)[2]) & k[2]),
                       [steps] "m"(*(const int32_t(*)[2]) & k[4])
                     : "cc", "memory");
}
#endif

#endif /* MCUQ_DEPTHWISE_CONV_S8_FAST_DSP_PAIRS_H */
