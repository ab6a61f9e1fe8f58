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
 * 2 x 5 for the requantization and the store, the LDRD, and 4 for the loop).
 */
#ifndef MCUQ_DEPTHWISE_CONV_S8_FAST_DSP_PAIRS_H
#define MCUQ_DEPTHWISE_CONV_S8_FAST_DSP_PAIRS_H

/* Not at -Os: gcc 12 then finds no 13 registers for the operands ("impossible constraints"). */
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && defined(__GNUC__) && defined(__OPTIMIZE__) && \
    !defined(__OPTIMIZE_SIZE__)
#define MCUQ_DW_DSP_PAIRS_ASM 1

/* The outputs of one plane row's pairs, x = 0, 2, ... (p: the row's first window; out: its first
 * output), stride 1, rows 32 bytes apart, mode 0 of mcuq_dw_dsp_out. k = {bias, along, end}: the
 * doubled bias, the output bytes between neighbours along the row, and out's value after the last
 * pair. w as in mcuq_dw_dsp_pair (w[4]: the tap in the top half, n in the bottom byte). Returns the
 * window after the last pair. */
MCUQ_DW_INLINE const int8_t *mcuq_dw_dsp_row_pairs_asm(const int8_t *p, int8_t *out, const int32_t *w,
                                                       const int32_t k[3], int32_t mult, int32_t h2)
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
                     "bne     1b"
                     : [p] "+r"(p), [out] "+r"(out), [e] "=&r"(e), [o] "=&r"(o), [a0] "=&r"(a0), [a1] "=&r"(a1)
                     : [w0] "r"(w[0]), [w1] "r"(w[1]), [w2] "r"(w[2]), [w3] "r"(w[3]), [w4] "r"(w[4]),
                       [mult] "r"(mult), [h2] "r"(h2), [bias] "m"(k[0]),
                       [along_end] "m"(*(const int32_t(*)[2]) & k[1])
                     : "cc", "memory");
    return p;
}
#endif

#endif /* MCUQ_DEPTHWISE_CONV_S8_FAST_DSP_PAIRS_H */
