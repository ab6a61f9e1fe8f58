/*
 * mcuq integer runtime: the kernel paths and the SIMD instructions they use.
 *
 * Every kernel has a portable C path, the reference. Faster paths are chosen at compile time from
 * the target's ACLE feature macros, the way CMSIS-NN chooses its own:
 *   MCUQ_PATH_MVE  Helium, M-profile vector extension (__ARM_FEATURE_MVE): Cortex-M55, M85.
 *   MCUQ_HAVE_DSP  the DSP extension (__ARM_FEATURE_DSP: SMLAD, SXTB16, ...): Cortex-M4, M7, M33,
 *                  M55. A kernel without an MVE path uses its DSP path on an M55.
 *   MCUQ_PATH_NODSP  neither (Armv7-M without DSP: Cortex-M3; Armv6-M: Cortex-M0, M0+).
 * -DMCUQ_PORTABLE_KERNELS forces the portable path on any core. -DMCUQ_EMULATE_DSP selects the DSP
 * path on a host without the extension, running it on the C emulations below: the kernel tests use it
 * to check the DSP paths bit for bit against the golden model at host speed (they check them on the
 * emulated Cortex-M4 too). Every path gives the same bytes as the portable one; only speed differs.
 */
#ifndef MCUQ_NN_SIMD_H
#define MCUQ_NN_SIMD_H

#include "mcuq_nn_types.h"

#if !defined(MCUQ_PORTABLE_KERNELS)
#if defined(__ARM_FEATURE_MVE) && (__ARM_FEATURE_MVE & 1)
#define MCUQ_PATH_MVE 1
#endif
#if defined(__ARM_FEATURE_DSP) || defined(MCUQ_EMULATE_DSP)
#define MCUQ_HAVE_DSP 1
#endif
/* Cores without the DSP extension: Armv7-M (Cortex-M3) and Armv6-M (Cortex-M0/M0+). Their paths use
 * only LDRSB and MLA/MUL (no SIMD); -DMCUQ_EMULATE_NODSP selects them on a host for the kernel tests. */
#if !defined(MCUQ_PATH_MVE) && !defined(MCUQ_HAVE_DSP) && \
    (defined(__ARM_ARCH_7M__) || defined(__ARM_ARCH_6M__) || defined(MCUQ_EMULATE_NODSP))
#define MCUQ_PATH_NODSP 1
#endif
#endif

#if defined(MCUQ_PATH_MVE)
#include <arm_mve.h>
#endif

#if defined(MCUQ_HAVE_DSP)
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP)
#include <arm_acle.h>

/* Two int16 lanes from bytes 0 and 2 (SXTB16), or from bytes 1 and 3 (SXTB16 with ROR #8: one
 * instruction, which the ACLE intrinsic with __ror does not always give). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sxtb16(int32_t x) { return (int32_t)__sxtb16(x); }
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sxtb16_ror8(int32_t x)
{
    int32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
/* acc + x.lo * y.lo + x.hi * y.hi (SMLAD; wraps modulo 2^32 like the int32 accumulators). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlad(int32_t x, int32_t y, int32_t acc) { return __smlad(x, y, acc); }
/* acc + x.lo * y.lo (SMLABB), acc + x.hi * y.hi (SMLATT). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlabb(int32_t x, int32_t y, int32_t acc) { return __smlabb(x, y, acc); }
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlatt(int32_t x, int32_t y, int32_t acc) { return __smlatt(x, y, acc); }
/* Lane-wise int16 add (SADD16). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sadd16(int32_t x, int32_t y) { return (int32_t)__sadd16(x, y); }
/* acc + x.lo * y.hi (SMLABT), acc + x.hi * y.lo (SMLATB). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlabt(int32_t x, int32_t y, int32_t acc) { return __smlabt(x, y, acc); }
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlatb(int32_t x, int32_t y, int32_t acc) { return __smlatb(x, y, acc); }
/* x saturated to [-128, 127] (SSAT #8). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_ssat8(int32_t x) { return __ssat(x, 8); }
#else
/* C emulations of the instructions above, for testing the DSP paths on a host. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_pack16(int32_t lo, int32_t hi)
{
    return (int32_t)(((uint32_t)(uint16_t)lo) | ((uint32_t)(uint16_t)hi << 16));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_lo16(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x & 0xFFFFu); }
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_hi16(int32_t x) { return (int16_t)(uint16_t)((uint32_t)x >> 16); }
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sxtb16(int32_t x)
{
    return mcuq_pack16((int8_t)(uint8_t)((uint32_t)x & 0xFFu), (int8_t)(uint8_t)(((uint32_t)x >> 16) & 0xFFu));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sxtb16_ror8(int32_t x)
{
    return mcuq_sxtb16((int32_t)(((uint32_t)x >> 8) | ((uint32_t)x << 24)));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlad(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mcuq_lo16(x) * mcuq_lo16(y)) + (uint32_t)(mcuq_hi16(x) * mcuq_hi16(y)));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlabb(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mcuq_lo16(x) * mcuq_lo16(y)));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlatt(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mcuq_hi16(x) * mcuq_hi16(y)));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sadd16(int32_t x, int32_t y)
{
    return mcuq_pack16(mcuq_lo16(x) + mcuq_lo16(y), mcuq_hi16(x) + mcuq_hi16(y));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlabt(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mcuq_lo16(x) * mcuq_hi16(y)));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_smlatb(int32_t x, int32_t y, int32_t acc)
{
    return (int32_t)((uint32_t)acc + (uint32_t)(mcuq_hi16(x) * mcuq_lo16(y)));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_ssat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
#endif
#endif /* MCUQ_HAVE_DSP */

#if defined(MCUQ_PATH_NODSP)
/* x saturated to [-128, 127]: SSAT where the core has it (Armv7-M, __ARM_FEATURE_SAT), which gcc does
 * not always find in the two comparisons. */
#if defined(__ARM_FEATURE_SAT) && !defined(MCUQ_EMULATE_NODSP)
#include <arm_acle.h>
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sat8(int32_t x) { return __ssat(x, 8); }
#else
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sat8(int32_t x) { return x < -128 ? -128 : (x > 127 ? 127 : x); }
#endif
#endif

#if defined(MCUQ_HAVE_DSP) || defined(MCUQ_PATH_NODSP)
/* Four bytes from any address as one word: a single LDR / STR on cores that allow unaligned loads
 * (Cortex-M3 and up). Through a packed struct, as CMSIS-Core's __UNALIGNED_UINT32_READ, not memcpy:
 * under -ffreestanding -fno-builtin (Zephyr, NXP's SDK) a memcpy stays a call to the C library, which
 * took KWS on the M4 from 4.95 M to 7.03 M instructions. may_alias: the bytes are int8_t arrays. */
#if defined(__GNUC__) || defined(__clang__)
typedef struct __attribute__((packed, may_alias))
{
    int32_t v;
} mcuq_unaligned_s32;
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_read_s8x4(const int8_t *p) { return ((const mcuq_unaligned_s32 *)p)->v; }
static inline MCUQ_MAYBE_UNUSED void mcuq_write_s8x4(int8_t *p, int32_t v) { ((mcuq_unaligned_s32 *)p)->v = v; }
#else
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_read_s8x4(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}
static inline MCUQ_MAYBE_UNUSED void mcuq_write_s8x4(int8_t *p, int32_t v) { memcpy(p, &v, sizeof(v)); }
#endif

/* The fast paths' copies and fills of short runs (im2col rows, padding, planes): a word at a time, then
 * the last 0-3 bytes without a loop. Not memcpy / memset: those are library calls under -fno-builtin,
 * and at any flags gcc turns a byte loop into one (newlib-nano's memset is itself a byte loop). Unaligned
 * words: every core with these paths allows them, at the same instruction count. */
static inline MCUQ_MAYBE_UNUSED void mcuq_fill_s8(int8_t *dst, int8_t value, int32_t n)
{
    const int32_t word = (int32_t)(0x01010101u * (uint8_t)value);
    for (; n >= 4; n -= 4, dst += 4)
    {
        mcuq_write_s8x4(dst, word);
    }
    if (n > 0)
    {
        dst[0] = value;
    }
    if (n > 1)
    {
        dst[1] = value;
    }
    if (n > 2)
    {
        dst[2] = value;
    }
}
static inline MCUQ_MAYBE_UNUSED void mcuq_copy_s8(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 4; n -= 4, dst += 4, src += 4)
    {
        mcuq_write_s8x4(dst, mcuq_read_s8x4(src));
    }
    if (n > 0)
    {
        dst[0] = src[0];
    }
    if (n > 1)
    {
        dst[1] = src[1];
    }
    if (n > 2)
    {
        dst[2] = src[2];
    }
}
#endif /* MCUQ_HAVE_DSP || MCUQ_PATH_NODSP */

#if defined(MCUQ_PATH_MVE)
/* Copies n bytes, 16 per vector load and store, the tail with one predicated pair (no call). */
static inline MCUQ_MAYBE_UNUSED void mcuq_copy_s8_mve(int8_t *dst, const int8_t *src, int32_t n)
{
    for (; n >= 16; n -= 16)
    {
        vstrbq_s8(dst, vldrbq_s8(src));
        src += 16;
        dst += 16;
    }
    if (n > 0)
    {
        const mve_pred16_t p = vctp8q((uint32_t)n);
        vstrbq_p_s8(dst, vldrbq_z_s8(src, p), p);
    }
}

/* mcuq_requantize on four lanes, exactly: VQRDMULH is the doubling high multiply with round half up
 * (it saturates only for INT32_MIN * INT32_MIN, which a non-negative multiplier never gives), and
 * the -1 fix-up on negative lanes turns VRSHL's round-half-up into round-half-away-from-zero, as
 * arm_divide_by_power_of_two_mve does. shift: per-lane TFLite shifts (> 0 left, < 0 right). */
static inline MCUQ_MAYBE_UNUSED int32x4_t mcuq_requantize_mve(int32x4_t val, int32x4_t multiplier, int32x4_t shift)
{
    const int32x4_t zero = vdupq_n_s32(0);
    const int32x4_t left = vmaxq_s32(shift, zero);
    const int32x4_t right = vminq_s32(shift, zero); /* <= 0: VRSHL by a negative amount shifts right */
    int32x4_t x = vqrdmulhq_s32(vshlq_s32(val, left), multiplier);
    const int32x4_t fixup = vshrq_n_s32(vandq_s32(x, right), 31); /* -1 where x < 0 and right < 0 */
    x = vqaddq_s32(x, fixup);
    return vrshlq_s32(x, right);
}
#endif

/* ---- Elementwise add, pooling, fully connected (fast-misc) ----
 * mcuq_sxtab16(acc, x): acc + mcuq_sxtb16(x), lane-wise int16 (SXTAB16); _ror8 takes bytes 1 and 3.
 * mcuq_max_s8x4 / mcuq_min_s8x4: byte-wise signed max / min of four int8 lanes (SSUB8 sets the GE
 * flags, SEL picks by them; one asm statement, so that nothing can come between the two).
 * MCUQ_MISC_NOINLINE keeps a kernel's fast loops (and their arrays and spilled constants) out of the
 * function that calls the kernel: the generated model's run function inlines its static kernels, and
 * a frame merged into it stays on the stack under every later kernel call. */
#if defined(__GNUC__) || defined(__clang__)
#define MCUQ_MISC_NOINLINE __attribute__((noinline))
#else
#define MCUQ_MISC_NOINLINE
#endif
#if defined(MCUQ_HAVE_DSP)
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP)
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sxtab16(int32_t acc, int32_t x) { return (int32_t)__sxtab16(acc, x); }
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sxtab16_ror8(int32_t acc, int32_t x)
{
    int32_t r;
    __asm__("sxtab16 %0, %1, %2, ror #8" : "=r"(r) : "r"(acc), "r"(x));
    return r;
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_max_s8x4(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_min_s8x4(int32_t a, int32_t b)
{
    int32_t r;
    __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
    return r;
}
#else
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sxtab16(int32_t acc, int32_t x) { return mcuq_sadd16(acc, mcuq_sxtb16(x)); }
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sxtab16_ror8(int32_t acc, int32_t x)
{
    return mcuq_sadd16(acc, mcuq_sxtb16_ror8(x));
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_bytewise_s8x4(int32_t a, int32_t b, int want_max)
{
    uint32_t r = 0;
    int k;
    for (k = 0; k < 32; k += 8)
    {
        const int32_t x = (int8_t)(uint8_t)(((uint32_t)a >> k) & 0xFFu);
        const int32_t y = (int8_t)(uint8_t)(((uint32_t)b >> k) & 0xFFu);
        const int32_t m = want_max ? (x >= y ? x : y) : (x >= y ? y : x);
        r |= ((uint32_t)m & 0xFFu) << k;
    }
    return (int32_t)r;
}
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_max_s8x4(int32_t a, int32_t b) { return mcuq_bytewise_s8x4(a, b, 1); }
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_min_s8x4(int32_t a, int32_t b) { return mcuq_bytewise_s8x4(a, b, 0); }
#endif
#endif /* MCUQ_HAVE_DSP */

/* Dot products of int8 rows (fully connected, the recurrent gates): mcuq_dot_s8_mve returns
 * acc + x . w over depth elements, sixteen products per VMLADAVA.S8 (the last step predicated, zeros in
 * the lanes past the end); mcuq_dot2_s8 adds x . w0 to acc[0] and x . w1 to acc[1], four bytes per
 * step (SXTB16 unpacks the x word once for both rows, SMLAD multiplies pairs). */
#if defined(MCUQ_PATH_MVE)
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_dot_s8_mve(const int8_t *x, const int8_t *w, int32_t depth, int32_t acc)
{
    int32_t k;
    for (k = 0; k + 16 <= depth; k += 16)
    {
        acc = vmladavaq_s8(acc, vldrbq_s8(x + k), vldrbq_s8(w + k));
    }
    if (k < depth)
    {
        const mve_pred16_t p = vctp8q((uint32_t)(depth - k));
        acc = vmladavaq_p_s8(acc, vldrbq_z_s8(x + k, p), vldrbq_z_s8(w + k, p), p);
    }
    return acc;
}
#elif defined(MCUQ_HAVE_DSP)
static inline MCUQ_MAYBE_UNUSED void mcuq_dot2_s8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t depth,
                                                  int32_t *acc)
{
    int32_t a0 = acc[0], a1 = acc[1];
    int32_t k;
    for (k = 0; k + 4 <= depth; k += 4)
    {
        const int32_t xw = mcuq_read_s8x4(x + k);
        const int32_t x02 = mcuq_sxtb16(xw), x13 = mcuq_sxtb16_ror8(xw);
        const int32_t v0 = mcuq_read_s8x4(w0 + k), v1 = mcuq_read_s8x4(w1 + k);
        a0 = mcuq_smlad(x02, mcuq_sxtb16(v0), a0);
        a0 = mcuq_smlad(x13, mcuq_sxtb16_ror8(v0), a0);
        a1 = mcuq_smlad(x02, mcuq_sxtb16(v1), a1);
        a1 = mcuq_smlad(x13, mcuq_sxtb16_ror8(v1), a1);
    }
    for (; k < depth; k++)
    {
        a0 += (int32_t)x[k] * (int32_t)w0[k];
        a1 += (int32_t)x[k] * (int32_t)w1[k];
    }
    acc[0] = a0;
    acc[1] = a1;
}
#endif
/* ---- end of elementwise add, pooling, fully connected ---- */

#endif /* MCUQ_NN_SIMD_H */
