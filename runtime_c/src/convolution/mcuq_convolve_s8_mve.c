/*
 * mcuq_convolve_s8, MVE path (Helium: Cortex-M55, M85): one group. For 16 <= K <= 64 one pixel at a
 * time with its column held in vector registers; otherwise output pixels two at a time, each four
 * output channels a 2-pixel x 4-channel VMLADAVA.S8 dot product (two tail-predicated loops) and one
 * vector requantization per pixel (mcuq_convolve_s8_fast.h has the walk and what the DSP path shares).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"
#include "mcuq_convolve_s8_args.h"

#if defined(MCUQ_PATH_MVE)
#include "mcuq_convolve_s8_fast.h"
/* Forced inlining only when optimizing. At -O0 gcc gives each inlined copy its own stack slots for all
 * its vector temporaries (it shares none): the 12 copies of mcuq_conv_s8_pixel_held in
 * mcuq_conv_s8_pixel_mve made a 20,416-byte frame, far past the firmware's 4 KiB stack, so a debug
 * build silently overwrote the data below the stack (wrong outputs) or faulted. Called, the deepest
 * chain takes under 2 KiB (-fstack-usage, M55 -O0); optimized code is unchanged. */
#if defined(__OPTIMIZE__)
#define MCUQ_CONV_S8_MVE_INLINE MCUQ_CONV_S8_ALWAYS_INLINE
#else
#define MCUQ_CONV_S8_MVE_INLINE
#endif
/* For 16 <= K <= 64: one pixel at a time, its column held in nv = ceil(K / 16) vector registers, so
 * that an output channel costs nv VLDRB of filter and nv VMLADAVA, with no loop over K and no second
 * pixel. The last vector holds the column's last 16 bytes with the lanes the previous vector already
 * covers zeroed, and is multiplied by the filter row's last 16 bytes: every load stays inside its
 * row and unpredicated. */
#define MCUQ_CONV_S8_HELD_MIN 16
#define MCUQ_CONV_S8_HELD_MAX 64

#if MCUQ_CONV_S8_GCC_ASM
/* In assembly: gcc otherwise hoists every filter load of a group of channels ahead of the multiplies
 * and spills vectors to the stack. x3 is the last vector for nv = 4, x2 for 3, and so on. */
#define MCUQ_CONV_S8_HELD_ASM(body, ...)                                                                   \
    __asm__(body : [acc] "=&Te"(acc), [t] "=&w"(t), [p] "+r"(p) : __VA_ARGS__, [len] "r"(len) : "memory")
#define MCUQ_CONV_S8_LD(j) "vldrb.u8 %q[t], [%[p], #" #j "]\n\t"
#define MCUQ_CONV_S8_LAST "add %[p], %[p], %[len]\n\tvldrb.u8 %q[t], [%[p], #-16]\n\t"
#endif

static inline void mcuq_conv_s8_copy(int8_t *dst, const int8_t *src, int32_t n)
{
#if MCUQ_CONV_S8_GCC_ASM
    /* One tail-predicated loop (WLSTP/LETP: no separate tail, nothing for n = 0): 1 + 3 * ceil(n / 16)
     * instructions. gcc makes mcuq_copy_s8_mve a counted loop, a test and a predicated tail: about 25
     * for a 48-byte window row of a 3x3 conv over 16 channels, 15 for the 9 bytes of 3 channels. */
    __asm__ volatile("wlstp.8 lr, %[n], 2f\n"
                     "1:\n\t"
                     "vldrb.u8 q0, [%[src]], #16\n\t"
                     "vstrb.8 q0, [%[dst]], #16\n\t"
                     "letp lr, 1b\n"
                     "2:\n"
                     : [dst] "+r"(dst), [src] "+r"(src)
                     : [n] "r"(n)
                     : "q0", "lr", "memory");
#else
    mcuq_copy_s8_mve(dst, src, n);
#endif
}

/* acc[2 * pixel + channel] = dot(column of pixel a or b, filter row 0 or 1) over len bytes, where
 * column b follows column a and row 1 follows row 0 (both len bytes long). */
static inline MCUQ_CONV_S8_MVE_INLINE void mcuq_conv_s8_dot_2x2_inline(const int8_t *col_a,
                                                                        const int8_t *row_0,
                                                                        int32_t len,
                                                                        int32_t *acc)
{
    const int8_t *col_b = col_a + len;
    const int8_t *row_1 = row_0 + len;
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    /* 16 products per VMLADAVA; the last partial block with zeroing predicated loads. */
    int32_t n;
#if MCUQ_CONV_S8_GCC_ASM
    /* The loop below as one low-overhead loop in assembly: gcc derives its trip count from the
     * pointers at every call (five instructions) and moves the accumulators around it, a good part
     * of the loop itself for a short K. "Te": the even registers VMLADAVA accumulates in. */
    n = len >> 4;
    __asm__("wls lr, %[n], 2f\n\t"
            "1:\n\t"
            "vldrb.u8 q0, [%[ca]], #16\n\t"
            "vldrb.u8 q1, [%[cb]], #16\n\t"
            "vldrb.u8 q2, [%[r0]], #16\n\t"
            "vmladava.s8 %[a0], q0, q2\n\t"
            "vmladava.s8 %[b0], q1, q2\n\t"
            "vldrb.u8 q2, [%[r1]], #16\n\t"
            "vmladava.s8 %[a1], q0, q2\n\t"
            "vmladava.s8 %[b1], q1, q2\n\t"
            "le lr, 1b\n\t"
            "2:\n\t"
            : [a0] "+Te"(a0), [a1] "+Te"(a1), [b0] "+Te"(b0), [b1] "+Te"(b1), [ca] "+r"(col_a), [cb] "+r"(col_b),
              [r0] "+r"(row_0), [r1] "+r"(row_1)
            : [n] "r"(n)
            : "q0", "q1", "q2", "lr", "memory");
#else
    for (n = len >> 4; n > 0; n--)
    {
        const int8x16_t xa = vldrbq_s8(col_a);
        const int8x16_t xb = vldrbq_s8(col_b);
        const int8x16_t w0 = vldrbq_s8(row_0);
        const int8x16_t w1 = vldrbq_s8(row_1);
        a0 = vmladavaq_s8(a0, xa, w0);
        b0 = vmladavaq_s8(b0, xb, w0);
        a1 = vmladavaq_s8(a1, xa, w1);
        b1 = vmladavaq_s8(b1, xb, w1);
        col_a += 16;
        col_b += 16;
        row_0 += 16;
        row_1 += 16;
    }
#endif
    if ((len & 15) != 0)
    {
        const mve_pred16_t p = vctp8q((uint32_t)(len & 15));
        const int8x16_t xa = vldrbq_z_s8(col_a, p);
        const int8x16_t xb = vldrbq_z_s8(col_b, p);
        const int8x16_t w0 = vldrbq_z_s8(row_0, p);
        const int8x16_t w1 = vldrbq_z_s8(row_1, p);
        a0 = vmladavaq_s8(a0, xa, w0);
        b0 = vmladavaq_s8(b0, xb, w0);
        a1 = vmladavaq_s8(a1, xa, w1);
        b1 = vmladavaq_s8(b1, xb, w1);
    }
    acc[0] = a0;
    acc[1] = a1;
    acc[2] = b0;
    acc[3] = b1;
}

static void mcuq_conv_s8_dot_2x2(const int8_t *col_a, const int8_t *row_0, int32_t len, int32_t *acc)
{
    mcuq_conv_s8_dot_2x2_inline(col_a, row_0, len, acc);
}

/* acc[4 * pixel + j] = dot(column of pixel a or b, filter row j) for the four rows row .. row + 3 * len,
 * where column b follows column a (len bytes each). */
static inline MCUQ_CONV_S8_MVE_INLINE void mcuq_conv_s8_dot_2x4(const int8_t *col_a,
                                                                 const int8_t *row,
                                                                 int32_t len,
                                                                 int32_t *acc)
{
#if MCUQ_CONV_S8_GCC_ASM
    /* Two tail-predicated loops (DLSTP/LETP: any K, no separate tail), rows 0 and 1, then 2 and 3,
     * each storing its four accumulators with two STRD. One block, so that the accumulators (even
     * registers for VMLADAVA) and the six pointers stay in registers: as two 2x2 dot products in C, gcc
     * spends 86 instructions per group of four channels outside the loops (lane inserts one at a
     * time, pointers and accumulators through the stack). */
    int32_t a0, a1, b0, b1;
    const int8_t *ca, *cb, *r0, *r1;
#define MCUQ_CONV_S8_LOOP_2X2(first_row)                                                                      \
    "mov %[ca], %[col]\n\t"                                                                                \
    "add %[cb], %[col], %[len]\n\t"                                                                        \
    "add %[r0], %[row], " first_row "\n\t"                                                                 \
    "add %[r1], %[r0], %[len]\n\t"                                                                         \
    "movs %[a0], #0\n\t"                                                                                   \
    "movs %[a1], #0\n\t"                                                                                   \
    "movs %[b0], #0\n\t"                                                                                   \
    "movs %[b1], #0\n\t"                                                                                   \
    "dlstp.8 lr, %[len]\n"                                                                                 \
    "1:\n\t"                                                                                               \
    "vldrb.u8 q0, [%[ca]], #16\n\t"                                                                        \
    "vldrb.u8 q1, [%[cb]], #16\n\t"                                                                        \
    "vldrb.u8 q2, [%[r0]], #16\n\t"                                                                        \
    "vmladava.s8 %[a0], q0, q2\n\t"                                                                        \
    "vmladava.s8 %[b0], q1, q2\n\t"                                                                        \
    "vldrb.u8 q2, [%[r1]], #16\n\t"                                                                        \
    "vmladava.s8 %[a1], q0, q2\n\t"                                                                        \
    "vmladava.s8 %[b1], q1, q2\n\t"                                                                        \
    "letp lr, 1b\n\t"
    /* volatile: its only result is the memory at acc, which gcc does not see as an output. */
    __asm__ volatile(MCUQ_CONV_S8_LOOP_2X2("#0")
            "strd %[a0], %[a1], [%[acc], #0]\n\t"
            "strd %[b0], %[b1], [%[acc], #16]\n\t"
            MCUQ_CONV_S8_LOOP_2X2("%[len], lsl #1")
            "strd %[a0], %[a1], [%[acc], #8]\n\t"
            "strd %[b0], %[b1], [%[acc], #24]\n\t"
            : [a0] "=&Te"(a0), [a1] "=&Te"(a1), [b0] "=&Te"(b0), [b1] "=&Te"(b1), [ca] "=&r"(ca), [cb] "=&r"(cb),
              [r0] "=&r"(r0), [r1] "=&r"(r1)
            : [col] "r"(col_a), [row] "r"(row), [len] "r"(len), [acc] "r"(acc)
            : "q0", "q1", "q2", "lr", "memory");
#undef MCUQ_CONV_S8_LOOP_2X2
#else
    int32_t two[4];
    int j;
    for (j = 0; j < 4; j += 2)
    {
        mcuq_conv_s8_dot_2x2_inline(col_a, row + (size_t)j * len, len, two);
        acc[j] = two[0];
        acc[j + 1] = two[1];
        acc[4 + j] = two[2];
        acc[5 + j] = two[3];
    }
#endif
}

/* Four channels at a time: one 2x4 dot product, then the four values of each pixel requantized as one
 * vector and stored with one narrowing VSTRB; returns the number of channels done. rshift_only (a
 * bias and no left shift, checked once per call): mcuq_requantize_mve without its left-shift steps. */
static inline MCUQ_CONV_S8_MVE_INLINE int32_t mcuq_conv_s8_groups_mve(const int8_t *col,
                                                                       const mcuq_conv_s8_channels *ch,
                                                                       int8_t *out_a,
                                                                       int8_t *out_b,
                                                                       int rshift_only)
{
    const int32_t len = ch->len, out_c = ch->out_c;
    const mcuq_conv_params *const params = ch->params;
    const mcuq_per_channel_quant *const quant = ch->quant;
    const int8_t *const filter = ch->filter;
    const int32_t *const bias = ch->bias;
    const int32x4_t out_offset = vdupq_n_s32(params->output_offset);
    const int32x4_t act_min = vdupq_n_s32(params->activation.min);
    const int32x4_t act_max = vdupq_n_s32(params->activation.max);
    /* Locals, not reloads through ch after every dot product (its assembly clobbers memory). */
    const int32_t *const multiplier = quant->multiplier, *const shifts = quant->shift;
    int32_t oc;
    for (oc = 0; oc + 4 <= out_c; oc += 4)
    {
        int32x4_t b, mult, shift, va, vb;
        int32_t acc[8];
        mcuq_conv_s8_dot_2x4(col, filter + (size_t)oc * len, len, acc);
        va = vldrwq_s32(acc);
        vb = vldrwq_s32(acc + 4);
        b = rshift_only || bias != NULL ? vldrwq_s32(bias + oc) : vdupq_n_s32(0);
        mult = vldrwq_s32(multiplier + oc);
        shift = vldrwq_s32(shifts + oc);
        va = vaddq_s32(va, b);
        vb = vaddq_s32(vb, b);
        if (rshift_only)
        {
            /* mcuq_requantize_mve with a zero left shift: shift is the (non-positive) right one. */
            va = vqrdmulhq_s32(va, mult);
            vb = vqrdmulhq_s32(vb, mult);
            va = vrshlq_s32(vqaddq_s32(va, vshrq_n_s32(vandq_s32(va, shift), 31)), shift);
            vb = vrshlq_s32(vqaddq_s32(vb, vshrq_n_s32(vandq_s32(vb, shift), 31)), shift);
        }
        else
        {
            va = mcuq_requantize_mve(va, mult, shift);
            vb = mcuq_requantize_mve(vb, mult, shift);
        }
        va = vaddq_s32(va, out_offset);
        vb = vaddq_s32(vb, out_offset);
        vstrbq_s32(out_a + oc, vminq_s32(vmaxq_s32(va, act_min), act_max));
        vstrbq_s32(out_b + oc, vminq_s32(vmaxq_s32(vb, act_min), act_max));
    }
    return oc;
}

#if MCUQ_CONV_S8_GCC_ASM
static inline MCUQ_CONV_S8_MVE_INLINE int32_t mcuq_conv_s8_dot_held(int8x16_t x0,
                                                                     int8x16_t x1,
                                                                     int8x16_t x2,
                                                                     int8x16_t x3,
                                                                     const int8_t **row,
                                                                     int32_t len,
                                                                     int nv)
{
    const int8_t *p = *row;
    int32_t acc;
    int8x16_t t;
    if (nv == 1)
    {
        MCUQ_CONV_S8_HELD_ASM(MCUQ_CONV_S8_LAST "vmladav.s8 %[acc], %q[x0], %q[t]\n\t", [x0] "w"(x0));
    }
    else if (nv == 2)
    {
        MCUQ_CONV_S8_HELD_ASM(MCUQ_CONV_S8_LD(0) "vmladav.s8 %[acc], %q[x0], %q[t]\n\t" MCUQ_CONV_S8_LAST
                              "vmladava.s8 %[acc], %q[x1], %q[t]\n\t",
                              [x0] "w"(x0), [x1] "w"(x1));
    }
    else if (nv == 3)
    {
        MCUQ_CONV_S8_HELD_ASM(MCUQ_CONV_S8_LD(0) "vmladav.s8 %[acc], %q[x0], %q[t]\n\t" MCUQ_CONV_S8_LD(16)
                              "vmladava.s8 %[acc], %q[x1], %q[t]\n\t" MCUQ_CONV_S8_LAST
                              "vmladava.s8 %[acc], %q[x2], %q[t]\n\t",
                              [x0] "w"(x0), [x1] "w"(x1), [x2] "w"(x2));
    }
    else
    {
        MCUQ_CONV_S8_HELD_ASM(MCUQ_CONV_S8_LD(0) "vmladav.s8 %[acc], %q[x0], %q[t]\n\t" MCUQ_CONV_S8_LD(16)
                              "vmladava.s8 %[acc], %q[x1], %q[t]\n\t" MCUQ_CONV_S8_LD(32)
                              "vmladava.s8 %[acc], %q[x2], %q[t]\n\t" MCUQ_CONV_S8_LAST
                              "vmladava.s8 %[acc], %q[x3], %q[t]\n\t",
                              [x0] "w"(x0), [x1] "w"(x1), [x2] "w"(x2), [x3] "w"(x3));
    }
    *row = p;
    return acc;
}
#else
static inline MCUQ_CONV_S8_MVE_INLINE int32_t mcuq_conv_s8_dot_held(int8x16_t x0,
                                                                     int8x16_t x1,
                                                                     int8x16_t x2,
                                                                     int8x16_t x3,
                                                                     const int8_t **row,
                                                                     int32_t len,
                                                                     int nv)
{
    const int8_t *const w = *row;
    const int8x16_t x[4] = {x0, x1, x2, x3};
    int32_t acc = 0;
    int j;
    for (j = 0; j < nv - 1; j++)
    {
        acc = vmladavaq_s8(acc, x[j], vldrbq_s8(w + 16 * j));
    }
    *row = w + len;
    return vmladavaq_s8(acc, x[nv - 1], vldrbq_s8(w + len - 16));
}
#endif

/* All output channels of one pixel whose column (len bytes, 16 * (nv - 1) < len <= 16 * nv) is at col:
 * four channels per vector requantization and narrowing store, the rest through the scalar step. */
static inline MCUQ_CONV_S8_MVE_INLINE void mcuq_conv_s8_pixel_held(const int8_t *col,
                                                                    const mcuq_conv_s8_channels *ch,
                                                                    int8_t *out,
                                                                    int rshift_only,
                                                                    int int8_range,
                                                                    int nv)
{
    const int32_t len = ch->len, out_c = ch->out_c;
    const mcuq_conv_params *const params = ch->params;
    const mcuq_per_channel_quant *const quant = ch->quant;
    const int8_t *const filter = ch->filter;
    const int32_t *const bias = ch->bias;
    /* The last vector: the column's last 16 bytes, its first 16 * nv - len lanes zeroed. */
    const mve_pred16_t last = (mve_pred16_t)~vctp8q((uint32_t)(16 * nv - len));
    const int8x16_t xl = vldrbq_z_s8(col + len - 16, last);
    const int8x16_t x0 = nv == 1 ? xl : vldrbq_s8(col);
    const int8x16_t x1 = nv == 2 ? xl : (nv > 2 ? vldrbq_s8(col + 16) : vdupq_n_s8(0));
    const int8x16_t x2 = nv == 3 ? xl : (nv > 3 ? vldrbq_s8(col + 32) : vdupq_n_s8(0));
    const int8x16_t x3 = nv == 4 ? xl : vdupq_n_s8(0);
    const int32x4_t out_offset = vdupq_n_s32(params->output_offset);
    const int32x4_t act_min = vdupq_n_s32(params->activation.min);
    const int32x4_t act_max = vdupq_n_s32(params->activation.max);
    /* Locals, not reloads through ch after every dot product (its assembly clobbers memory). */
    const int32_t *const multiplier = quant->multiplier, *const shifts = quant->shift;
    const int32_t output_offset = params->output_offset;
    const int8_t *w = filter;
    int32_t oc;
    /* The column is in registers from here on: the output may overwrite it (in place). */
    for (oc = 0; oc + 4 <= out_c; oc += 4)
    {
        int32x4_t v, mult, shift;
        const int32_t a0 = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv);
        const int32_t a1 = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv);
        const int32_t a2 = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv);
        const int32_t a3 = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv);
        v = vdupq_n_s32(a0);
        v = vsetq_lane_s32(a1, v, 1);
        v = vsetq_lane_s32(a2, v, 2);
        v = vsetq_lane_s32(a3, v, 3);
        v = vaddq_s32(v, rshift_only || bias != NULL ? vldrwq_s32(bias + oc) : vdupq_n_s32(0));
        mult = vldrwq_s32(multiplier + oc);
        shift = vldrwq_s32(shifts + oc);
        if (rshift_only)
        {
            v = vqrdmulhq_s32(v, mult); /* mcuq_requantize_mve with a zero left shift */
            v = vrshlq_s32(vqaddq_s32(v, vshrq_n_s32(vandq_s32(v, shift), 31)), shift);
        }
        else
        {
            v = mcuq_requantize_mve(v, mult, shift);
        }
        if (int8_range)
        {
            /* The activation is all of int8: a saturating shift clamps, and the offset comes from a
             * general register, which leaves the vector registers to the column (no spills for nv = 4). */
            v = vaddq_n_s32(v, output_offset);
            vstrbq_s32(out + oc, vshrq_n_s32(vqshlq_n_s32(v, 24), 24));
        }
        else
        {
            v = vaddq_s32(v, out_offset);
            vstrbq_s32(out + oc, vminq_s32(vmaxq_s32(v, act_min), act_max));
        }
    }
    for (; oc < out_c; oc++)
    {
        mcuq_conv_s8_out_step step;
        const int32_t acc = mcuq_conv_s8_dot_held(x0, x1, x2, x3, &w, len, nv) + (bias != NULL ? bias[oc] : 0);
        mcuq_conv_s8_out_step_init(&step, quant->multiplier[oc], quant->shift[oc], params);
        out[oc] = mcuq_conv_s8_out(acc, &step);
    }
}

/* mcuq_conv_s8_pixel_held with the vector count nv = ceil(K / 16) as a constant. */
static inline MCUQ_CONV_S8_MVE_INLINE void mcuq_conv_s8_pixel_nv(const int8_t *col,
                                                                  const mcuq_conv_s8_channels *ch,
                                                                  int8_t *out,
                                                                  int rshift_only,
                                                                  int int8_range)
{
    const int nv = (ch->len + 15) >> 4;
    if (nv == 1)
    {
        mcuq_conv_s8_pixel_held(col, ch, out, rshift_only, int8_range, 1);
    }
    else if (nv == 2)
    {
        mcuq_conv_s8_pixel_held(col, ch, out, rshift_only, int8_range, 2);
    }
    else if (nv == 3)
    {
        mcuq_conv_s8_pixel_held(col, ch, out, rshift_only, int8_range, 3);
    }
    else
    {
        mcuq_conv_s8_pixel_held(col, ch, out, rshift_only, int8_range, 4);
    }
}

/* mode 0: any shifts and clamp; 1: right shifts of 2 or more and a bias (mcuq_conv_s8_rshifts); 2: as 1,
 * with an activation that is all of int8. */
static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pixel_mve(const int8_t *col,
                                                         const mcuq_conv_s8_channels *ch,
                                                         int8_t *out,
                                                         int mode)
{
    /* One instance per vector count and requantization case: tested inside the channel loop, the
     * flag takes a register the four accumulators (even registers) need, and gcc adds moves. The
     * if chains lay out better than one switch (KWS M55 1x1 64->64: 142,281 against 153,531). */
    if (mode == 2)
    {
        mcuq_conv_s8_pixel_nv(col, ch, out, 1, 1);
    }
    else if (mode == 1)
    {
        mcuq_conv_s8_pixel_nv(col, ch, out, 1, 0);
    }
    else
    {
        mcuq_conv_s8_pixel_nv(col, ch, out, 0, 0);
    }
}

/* All output channels of the pixel pair whose columns are in col (2 * len bytes), written to out_a and
 * out_b (the same pointer for an odd last pixel: col holds its column twice, both results are equal). */
static MCUQ_CONV_S8_NOINLINE void mcuq_conv_s8_pair(const int8_t *col,
                                                    const mcuq_conv_s8_channels *ch,
                                                    int8_t *out_a,
                                                    int8_t *out_b,
                                                    int rshifts)
{
    int32_t oc;
    if (rshifts)
    {
        oc = mcuq_conv_s8_groups_mve(col, ch, out_a, out_b, 1);
    }
    else
    {
        oc = mcuq_conv_s8_groups_mve(col, ch, out_a, out_b, 0);
    }
    mcuq_conv_s8_pair_scalar(col, ch, oc, out_a, out_b);
}

MCUQ_API void mcuq_convolve_s8_mve(const mcuq_conv_s8_args *args)
{
    const int32_t pixels = args->input_dims->n * args->output_dims->h * args->output_dims->w;
    const int32_t out_stride = args->params->output_pixel_stride;
    int8_t *const col = (int8_t *)args->ctx->buf; /* pixel a's column, then pixel b's */
    mcuq_conv_s8_window win;
    mcuq_conv_s8_cursor cur;
    mcuq_conv_s8_channels ch;
    int32_t pixel;
    int rshifts;
    mcuq_conv_s8_fast_init(args, &win, &cur, &ch);
    rshifts = mcuq_conv_s8_rshifts(&ch);
    if (ch.len >= MCUQ_CONV_S8_HELD_MIN && ch.len <= MCUQ_CONV_S8_HELD_MAX)
    {
        /* One pixel at a time (in place: its window is in registers before its output is written).
         * A window that is one run of input bytes (a single row of taps, inside the input: 1x1
         * convs) is read where it is; others are copied into the scratch first. */
        const int int8_range = args->params->activation.min == -128 && args->params->activation.max == 127;
        const int mode = rshifts ? 1 + int8_range : 0;
        for (pixel = 0; pixel < pixels; pixel++)
        {
            const int8_t *const src = mcuq_conv_s8_column(&cur, &win, col, 1);
            mcuq_conv_s8_pixel_mve(src, &ch, args->output + (size_t)pixel * out_stride, mode);
            mcuq_conv_s8_advance(&cur);
        }
        return;
    }
    for (pixel = 0; pixel < pixels; pixel += 2)
    {
        /* The pair: pixel and pixel + 1; the last pixel of an odd count is taken twice (its second
         * result is not written). */
        const int two = pixel + 1 < pixels;
        int8_t *const out_a = args->output + (size_t)pixel * out_stride;
        const int8_t *cols[2];
        mcuq_conv_s8_next_pair(&cur, &win, col, ch.len, two, 0, cols);
        mcuq_conv_s8_pair(col, &ch, out_a, two ? out_a + out_stride : out_a, rshifts);
    }
}
#endif /* MCUQ_PATH_MVE */
