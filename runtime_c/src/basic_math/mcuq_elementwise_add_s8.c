/*
 * mcuq_elementwise_add_s8: int8 addition of two tensors of the same shape with different scales.
 *
 * Semantics of CMSIS-NN's arm_elementwise_add_s8 (TFLite int8 Add): both inputs are offset and
 * shifted left by left_shift (20) so that rescaling them to a common scale (twice the larger input
 * scale) keeps the precision, summed, then requantized to the output:
 *   a = requantize((in1 + input1_offset) << left_shift, input1 multiplier, input1 shift)
 *   b = requantize((in2 + input2_offset) << left_shift, input2 multiplier, input2 shift)
 *   out = clamp(requantize(a + b, output multiplier, output shift) + output_offset, act.min, act.max)
 * The output may be a channel slice of a wider tensor (dims->output_row_stride > dims->row_size).
 * In-place operation (a dense output == input1 or input2) is allowed.
 *
 * Table path (exact, any core; first choice): with params->rescale_table from the compiler, input 2's
 * rescale is one load, and the output requantization one SMMLAR plus three instructions (see
 * add8_table_setup): 9.6 instructions per element on Cortex-M4 (18 with the DSP path below), 3 on
 * M55 (MVE, eight lanes a pass; 4.5 with the four-lane VQRDMULH path it replaced).
 *
 * DSP path (exact), for callers without a table (and left shifts above 20). TFLite's Add Prepare gives the
 * input with the larger scale multiplier 2^30 and shift 0 (real multiplier 1/2): its requantization is exactly
 * a = (in + offset) * 2^(left_shift - 1), one multiply-add. The fast path takes that input as "input 1"
 * (swapping the inputs if needed: the sum is symmetric) and needs the other input's shift in [-(left_shift +
 * 1), 0] and the output shift in [-31, -2], which Prepare gives for any sane scales; other parameters take the
 * portable path.
 * - Cortex-M4/M7/M33/M55: input 2's requantization and the sum are one SMLAL. With t = in + offset, n = -shift
 *   and P = t * 2^left_shift * multiplier, mcuq_requantize_rshift's derivation gives requantize = floor((P + C)
 *   / 2^(31+n)), C = 2^30 + 2^(30+n) - [t < 0] * 2^31 (n >= 1), or floor((P + 2^30) / 2^31) (n = 0). P is a
 *   multiple of 2^left_shift, so with k = left_shift + 1 - n >= 0 and D = 2^(n-1) (1/2 for n = 0) this is
 *   floor((t * 2^k * multiplier + floor(C / D)) / 2^32), and floor(C / D) is 2^31 + 2^(31-n) - [t < 0] *
 *   2^(32-n) (n >= 1) or 2^31 (n = 0): it lies in [0, 2^32), the accumulator's low word, and a in its high word
 *   makes the high word a + b. The output is mcuq_requantize_rshift's SMLAL with the output offset added to the
 *   high word's constant (times 2^(n-1), exact under the arithmetic shift) when that cannot overflow.
 * Each element (vector) is read before it is written, so in-place operation stays safe.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

/* The portable reference over one run of n dense elements. */
static MCUQ_MISC_NOINLINE void add8_run_portable(const mcuq_add_params *params, const int8_t *in1, const int8_t *in2, int8_t *out,
                             int32_t n)
{
    int32_t i;
    for (i = 0; i < n; i++)
    {
        const int32_t a = mcuq_requantize((in1[i] + params->input1_offset) * (1 << params->left_shift),
                                          params->input1_quant.multiplier, params->input1_quant.shift);
        const int32_t b = mcuq_requantize((in2[i] + params->input2_offset) * (1 << params->left_shift),
                                          params->input2_quant.multiplier, params->input2_quant.shift);
        int32_t sum = mcuq_requantize(a + b, params->output_quant.multiplier, params->output_quant.shift);
        sum += params->output_offset;
        out[i] = (int8_t)mcuq_clamp_s32(sum, params->activation.min, params->activation.max);
    }
}

/* Whether the input's requantization is exactly in * 2^(left_shift - 1) (multiplier 2^30, shift 0:
 * what TFLite's Prepare gives the input with the larger scale). */
static int add8_input_exact(const mcuq_per_tensor_quant *q, int32_t left_shift)
{
    return q->multiplier == (1 << 30) && q->shift == 0 && left_shift >= 1;
}

/* ---- The table path (any core), when the compiler supplies params->rescale_table ----
 * Input 2's rescaled value b depends only on its byte, so the compiler tabulates it with the golden
 * model's own fixed-point functions (numerics/fixedpoint.py add_rescale_table); input 1 is the exact
 * input (a = (in1 + offset) * 2^(left_shift - 1), swapped as above), so that
 *   2 * (a + b) = in1 * 2^left_shift + table[(uint8_t)in2],
 *   table[k] = 2 * (b(k) + input1_offset * 2^(left_shift - 1)).
 * The output requantization of s = a + b with v = (s * M + 2^30) >> 31 = (2s * M + 2^31) >> 32 (one
 * SMMLAR on 2s, which also adds K = 2^(n-1) + output_offset * 2^n) is, for n >= 1,
 *   requantize(s) + output_offset = (v + K - [s < 0]) >> n
 * (mcuq_rounding_divide_by_pot's round half away from zero, with the sign of s for the sign of v:
 * they differ only where v = 0, and 0 + 2^(n-1) - 1 >> n is 0 too). |2s| < 2^31 for left_shift <= 20. */
typedef struct {
    const int32_t *table;
    int32_t left_shift, mult_o, n_o, zp, k_o; /* k_o = 2^(n_o - 1) + zp * 2^n_o */
} add8_table_consts;

/* The table loops are inlined into each call with constant flags (gcc would not: they are large). Only when
 * optimizing: at -O0 gcc gives every forced copy its own stack slots (a 2 KB frame on M55). */
#if (defined(__GNUC__) || defined(__clang__)) && defined(__OPTIMIZE__)
#define ADD8_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ADD8_ALWAYS_INLINE inline
#endif

/* The constants, or 0 when the table path does not apply (no table, or parameters Prepare never gives). */
static int add8_table_setup(const mcuq_add_params *params, add8_table_consts *k, int *swap)
{
    const int32_t ls = params->left_shift, n_o = -params->output_quant.shift;
    int64_t k_o;

    *swap = !add8_input_exact(&params->input1_quant, ls);
    if (params->rescale_table == NULL || ls < 1 || ls > 20 || (*swap && !add8_input_exact(&params->input2_quant, ls)) ||
        params->output_quant.multiplier < 0 || n_o < 1 || n_o > 31)
    {
        return 0;
    }
    /* |v| <= 2^30, so v + K - 1 stays in int32 when |K| < 2^30. */
    k_o = ((int64_t)1 << (n_o - 1)) + (int64_t)params->output_offset * ((int64_t)1 << n_o);
    if (k_o >= ((int64_t)1 << 30) || k_o <= -((int64_t)1 << 30))
    {
        return 0;
    }
    k->table = params->rescale_table;
    k->left_shift = ls;
    k->mult_o = params->output_quant.multiplier;
    k->n_o = n_o;
    k->zp = params->output_offset;
    k->k_o = (int32_t)k_o;
    return 1;
}

/* acc + ((a * m + 2^31) >> 32): SMMLAR where the core has it (gcc has no pattern for it: it builds the
 * same from SMLAL, ADDS and ADC with two more registers), else the exact 64-bit high word. */
static inline int32_t add8_smmlar(int32_t a, int32_t m, int32_t acc)
{
#if defined(__ARM_FEATURE_DSP) && !defined(MCUQ_EMULATE_DSP) && !defined(MCUQ_PORTABLE_KERNELS)
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(m), "r"(acc));
    return r;
#else
    return mcuq_mla_s64_hi(a, m, acc, 0x80000000u);
#endif
}

/* One element before the clamp. ls: the left shift, a constant where the caller can make it one. */
static inline int32_t add8_table_elem(const add8_table_consts *k, int32_t x1, uint8_t x2, int32_t ls)
{
    const int32_t s2 = k->table[x2] + (int32_t)((uint32_t)x1 << ls); /* 2 (a + b) */
    return (add8_smmlar(s2, k->mult_o, k->k_o) + (s2 >> 31)) >> k->n_o;
}

#if defined(MCUQ_PATH_MVE)
/* Four lanes before the output offset: the table by a gather on input 2's bytes, VRMULH for
 * (2s * M + 2^31) >> 32, the -1 on lanes where s < 0, and VRSHL's round-half-up right shift by n: with
 * the -1 that is mcuq_rounding_divide_by_pot's round half away from zero (see add8_table_setup). */
static inline int32x4_t add8_table_vec_mve(const add8_table_consts *k, int32x4_t x1, uint32x4_t x2, int32x4_t mult)
{
    const int32x4_t s2 = vmlaq_n_s32(vldrwq_gather_shifted_offset_s32(k->table, x2), x1, 1 << k->left_shift);
    const int32x4_t v = vaddq_s32(vrmulhq_s32(s2, mult), vshrq_n_s32(s2, 31));
    return vrshlq_n_s32(v, -k->n_o);
}

/* Eight lanes, loaded as 16-bit lanes and widened by their even and odd halves (VMOVLB, VMOVLT), so
 * that the saturating narrows VQMOVNB and VQMOVNT put them back in order; the output offset added
 * saturating in 16 bits (exact: a value beyond int16 is beyond int8 on the same side either way); then
 * clamped for VSTRB.16, which stores each lane's low byte: int8's range by one saturating narrow into
 * the low bytes where full_range (a constant at each call), else by VMAX and VMIN. The narrows write
 * into the registers of the loaded inputs, dead by then: into a live one gcc would first copy it. */
static ADD8_ALWAYS_INLINE int16x8_t add8_table_vec8_mve(const add8_table_consts *k, int16x8_t x1, uint16x8_t x2,
                                                        int32x4_t mult, int full_range, int16x8_t lo, int16x8_t hi)
{
    const int32x4_t even = add8_table_vec_mve(k, vmovlbq_s16(x1), vmovlbq_u16(x2), mult);
    const int32x4_t odd = add8_table_vec_mve(k, vmovltq_s16(x1), vmovltq_u16(x2), mult);
    const int16x8_t h = vqaddq_n_s16(vqmovntq_s32(vqmovnbq_s32(x1, even), odd), (int16_t)k->zp);
    if (full_range)
    {
        return vreinterpretq_s16_s8(vqmovnbq_s16(vreinterpretq_s8_u16(x2), h));
    }
    return vminq_s16(vmaxq_s16(h, lo), hi);
}

static ADD8_ALWAYS_INLINE void add8_table_loop_mve(const add8_table_consts *k, const mcuq_activation *act,
                                                   const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n,
                                                   int full_range)
{
    const int32x4_t mult = vdupq_n_s32(k->mult_o);
    const int16x8_t lo = vdupq_n_s16((int16_t)act->min), hi = vdupq_n_s16((int16_t)act->max);
    for (; n >= 8; n -= 8)
    {
        vstrbq_s16(out, add8_table_vec8_mve(k, vldrbq_s16(in1), vldrbq_u16((const uint8_t *)in2), mult, full_range,
                                            lo, hi));
        in1 += 8;
        in2 += 8;
        out += 8;
    }
    if (n > 0)
    {
        /* The lanes past n load zeros: index 0 of the table, read but not stored. */
        const mve_pred16_t p = vctp16q((uint32_t)n);
        vstrbq_p_s16(out,
                     add8_table_vec8_mve(k, vldrbq_z_s16(in1, p), vldrbq_z_u16((const uint8_t *)in2, p), mult,
                                         full_range, lo, hi),
                     p);
    }
}

static MCUQ_MISC_NOINLINE void add8_table_run(const add8_table_consts *kp, const mcuq_activation *act,
                                              const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n)
{
    const add8_table_consts k = *kp;
    if (act->min == -128 && act->max == 127)
    {
        add8_table_loop_mve(&k, act, in1, in2, out, n, 1);
    }
    else
    {
        add8_table_loop_mve(&k, act, in1, in2, out, n, 0);
    }
}
#else
/* x saturated to int8: one SSAT where the core has it. */
static inline int32_t add8_sat8(int32_t x)
{
#if defined(MCUQ_HAVE_DSP)
    return mcuq_ssat8(x);
#elif defined(MCUQ_PATH_NODSP)
    return mcuq_sat8(x);
#else
    return mcuq_clamp_s32(x, -128, 127);
#endif
}

/* One element, clamped to [lo, hi] (int8's range by one SSAT where full_range). */
static inline int8_t add8_table_out(const add8_table_consts *k, int32_t x1, int8_t x2, int32_t ls, int full_range,
                                    int32_t lo, int32_t hi)
{
    const int32_t v = add8_table_elem(k, x1, (uint8_t)x2, ls);
    return (int8_t)(full_range ? add8_sat8(v) : mcuq_clamp_s32(v, lo, hi));
}

/* n dense elements; ls, full_range are constants at each call (below). Unrolled by eight: gcc advances the
 * three pointers by separate ADDs (it does not post-increment across an unrolled body), so the loop costs
 * five instructions per pass, 0.6 per element, next to nine for the element itself. */
static ADD8_ALWAYS_INLINE void add8_table_out4(const add8_table_consts *k, const int8_t *in1, const int8_t *in2,
                                                int8_t *out, int32_t ls, int full_range, int32_t lo, int32_t hi)
{
    out[0] = add8_table_out(k, in1[0], in2[0], ls, full_range, lo, hi);
    out[1] = add8_table_out(k, in1[1], in2[1], ls, full_range, lo, hi);
    out[2] = add8_table_out(k, in1[2], in2[2], ls, full_range, lo, hi);
    out[3] = add8_table_out(k, in1[3], in2[3], ls, full_range, lo, hi);
}

static ADD8_ALWAYS_INLINE void add8_table_loop(const add8_table_consts *k, const int8_t *in1, const int8_t *in2,
                                                int8_t *out, int32_t n, int32_t ls, int full_range,
                                                const mcuq_activation *act)
{
    const int32_t lo = act->min, hi = act->max;
    int32_t i;
    for (; n >= 8; n -= 8)
    {
        add8_table_out4(k, in1, in2, out, ls, full_range, lo, hi);
        add8_table_out4(k, in1 + 4, in2 + 4, out + 4, ls, full_range, lo, hi);
        in1 += 8;
        in2 += 8;
        out += 8;
    }
    for (i = 0; i < n; i++)
    {
        out[i] = add8_table_out(k, in1[i], in2[i], ls, full_range, lo, hi);
    }
}

static MCUQ_MISC_NOINLINE void add8_table_run(const add8_table_consts *kp, const mcuq_activation *act,
                                              const int8_t *in1, const int8_t *in2, int8_t *out, int32_t n)
{
    const add8_table_consts k = *kp; /* in registers: the byte stores could alias a struct in memory */
    const int full_range = act->min == -128 && act->max == 127;
    if (full_range && k.left_shift == 20)
    {
        /* TFLite's Add (ResNet's residual adds: the ReLU's zero point is -128): the shift is an operand
         * of the ADD, the clamp one SSAT. */
        add8_table_loop(&k, in1, in2, out, n, 20, 1, act);
    }
    else
    {
        add8_table_loop(&k, in1, in2, out, n, k.left_shift, 0, act);
    }
}
#endif

#if defined(MCUQ_HAVE_DSP)

/* The fast loops' constants, set up by add8_setup (see the top of the file). Input 1 is the input
 * whose requantization is exact: a = (in + offset) * 2^(left_shift - 1). */
typedef struct {
    int32_t scale1, off1;        /* a = in1 * scale1 + off1 */
    int32_t scale2, off2, half2; /* v = in2 * scale2 + off2; low word 2^31 +- half2 by the sign of v */
    int32_t mult2;               /* input 2's multiplier */
    int32_t mult_o, n_o;         /* output multiplier, right shift */
    int32_t hi_o;                /* 2^(n_o - 2) + zp * 2^(n_o - 1), when it cannot overflow */
    int fold_ok;
} add8_consts;

/* The constants, or 0 when the fast loops do not apply (the caller then takes the portable path).
 * *swap: input 2 is the exact one, so the loops take the inputs in the other order (a + b = b + a). */
static MCUQ_MISC_NOINLINE int add8_setup(const mcuq_add_params *params, add8_consts *k, int *swap)
{
    const int32_t ls = params->left_shift;
    const mcuq_per_tensor_quant *q1 = &params->input1_quant, *q2 = &params->input2_quant;
    int32_t off1 = params->input1_offset, off2 = params->input2_offset;
    int32_t n, n_o;
    int64_t a_max, b_max, hi_max, zp_term;

    memset(k, 0, sizeof(*k));
    *swap = !add8_input_exact(q1, ls);
    if (*swap)
    {
        const mcuq_per_tensor_quant *q = q1;
        const int32_t o = off1;
        q1 = q2;
        q2 = q;
        off1 = off2;
        off2 = o;
    }
    n = -q2->shift;
    n_o = -params->output_quant.shift;
    if (!add8_input_exact(q1, ls) || q2->multiplier < 0 || n < 0 || n > ls + 1 || ls + 1 - n > 22 ||
        params->output_quant.multiplier < 0 || n_o < 2 || n_o > 31)
    {
        return 0;
    }
    k->scale1 = 1 << (ls - 1);
    k->off1 = off1 * k->scale1;
    k->scale2 = 1 << (ls + 1 - n); /* |in + offset| <= 383: 383 * 2^22 < 2^31 */
    k->off2 = off2 * k->scale2;
    k->half2 = n == 0 ? 0 : (int32_t)(1u << (31 - n));
    k->mult2 = q2->multiplier;
    k->mult_o = params->output_quant.multiplier;
    k->n_o = n_o;
    /* The output offset can ride in the high word: (hi + zp * 2^(n-1)) >> (n-1) = (hi >> (n-1)) + zp,
     * provided the high word cannot overflow. |a + b| <= a_max + b_max, and the high word of
     * sum * mult_o + constant is at most |sum| / 2 + 2^(n-2) + 1 in magnitude. */
    a_max = (int64_t)(128 + (off1 < 0 ? -off1 : off1)) << (ls - 1);
    b_max = ((((int64_t)(128 + (off2 < 0 ? -off2 : off2)) << ls) * q2->multiplier) >> (31 + n)) + 1;
    zp_term = (int64_t)params->output_offset * ((int64_t)1 << (n_o - 1));
    hi_max = (a_max + b_max) / 2 + ((int64_t)1 << (n_o - 2)) + 1 + (zp_term < 0 ? -zp_term : zp_term);
    k->fold_ok = hi_max <= MCUQ_Q31_MAX;
    k->hi_o = k->fold_ok ? (int32_t)(((int64_t)1 << (n_o - 2)) + zp_term) : 0;
    return 1;
}

#endif

#if defined(MCUQ_HAVE_DSP)

/* One element before the clamp: requantize(a + b) + output offset, with the constants of k (a copy
 * in the caller's registers: the stores through int8_t *out could change a struct in memory). */
static inline int32_t add8_elem_dsp(int32_t x1, int32_t x2, const add8_consts *k)
{
    const int32_t a = x1 * k->scale1 + k->off1;
    const int32_t v = x2 * k->scale2 + k->off2;
    const int32_t sign = v >> 31;
    /* a + b in the high word; the low word 2^31 + half2 for v >= 0, 2^31 - half2 for v < 0. */
    const uint32_t lo2 = 0x80000000u + (uint32_t)((k->half2 ^ sign) - sign);
    const int64_t acc2 = (int64_t)(((uint64_t)(uint32_t)a << 32) | lo2) + (int64_t)v * k->mult2;
    const int32_t sum = (int32_t)(uint32_t)((uint64_t)acc2 >> 32);
    /* mcuq_requantize_rshift (n >= 2), the output offset added in the high word. */
    const uint32_t lo = 0x40000000u | ((uint32_t)sum & 0x80000000u);
    const int32_t hi = k->hi_o + (sum >> 31);
    const int64_t acc = (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)sum * k->mult_o;
    return (int32_t)(acc >> 32) >> (k->n_o - 1);
}

static MCUQ_MISC_NOINLINE void add8_run_fast(const add8_consts *kp, const mcuq_activation *act, const int8_t *in1,
                                            const int8_t *in2, int8_t *out, int32_t n)
{
    add8_consts k = *kp;
    int32_t i;

    if (act->min == -128 && act->max == 127 && k.scale1 == (1 << 19))
    {
        /* TFLite's left shift (20): input 1's scale, a constant here, becomes a shifted operand, which
         * frees one more register (none is spilled in the loop then). */
        k.scale1 = 1 << 19;
        for (i = 0; i < n; i++)
        {
            out[i] = (int8_t)mcuq_ssat8(add8_elem_dsp(in1[i], in2[i], &k));
        }
    }
    else if (act->min == -128 && act->max == 127)
    {
        /* No clamp but int8's (ResNet's residual adds: the ReLU's zero point is -128): one SSAT, and
         * two registers fewer in the loop. */
        for (i = 0; i < n; i++)
        {
            out[i] = (int8_t)mcuq_ssat8(add8_elem_dsp(in1[i], in2[i], &k));
        }
    }
    else
    {
        const int32_t act_lo = act->min, act_hi = act->max;
        for (i = 0; i < n; i++)
        {
            out[i] = (int8_t)mcuq_clamp_s32(add8_elem_dsp(in1[i], in2[i], &k), act_lo, act_hi);
        }
    }
}

#endif

/* All rows on the table path, else on the DSP or MVE fast path, or 0 when none applies. Out of line,
 * so that the constants' frame is not on the stack while the portable path runs, nor the entry
 * point's while this one does. */
static MCUQ_MISC_NOINLINE int add8_fast_rows(const mcuq_add_params *params, int32_t rows, int32_t row_size,
                                            int32_t out_stride, const int8_t *input1, const int8_t *input2,
                                            int8_t *output)
{
    add8_table_consts t;
    int swap = 0;
    const int table = add8_table_setup(params, &t, &swap);
    int32_t r;
#if defined(MCUQ_HAVE_DSP)
    add8_consts k;
    if (!table && (!add8_setup(params, &k, &swap) || !k.fold_ok))
#else
    if (!table)
#endif
    {
        return 0;
    }
    if (swap)
    {
        const int8_t *const x = input1;
        input1 = input2;
        input2 = x;
    }
    for (r = 0; r < rows; r++)
    {
        const int8_t *const in1 = input1 + (size_t)r * row_size, *const in2 = input2 + (size_t)r * row_size;
        int8_t *const out = output + (size_t)r * out_stride;
#if defined(MCUQ_HAVE_DSP)
        if (!table)
        {
            add8_run_fast(&k, &params->activation, in1, in2, out, row_size);
            continue;
        }
#endif
        add8_table_run(&t, &params->activation, in1, in2, out, row_size);
    }
    return 1;
}

MCUQ_API mcuq_status mcuq_elementwise_add_s8(const mcuq_add_params *params,
                                             const mcuq_elementwise_dims *dims,
                                             const int8_t *input1,
                                             const int8_t *input2,
                                             int8_t *output)
{
    int32_t r, rows, row_size;

    if (params == NULL || dims == NULL || input1 == NULL || input2 == NULL || output == NULL ||
        !mcuq_elementwise_dims_ok(dims) || !mcuq_activation_ok(&params->activation))
    {
        return MCUQ_ARG_ERROR;
    }
    /* (in + offset) is at most 383 in magnitude: shifting it left by up to 22 stays in int32. */
    if (params->left_shift < 0 || params->left_shift > 22 || params->input1_offset < -255 ||
        params->input1_offset > 255 || params->input2_offset < -255 || params->input2_offset > 255)
    {
        return MCUQ_ARG_ERROR;
    }

    /* Dense rows make one run. */
    rows = dims->rows;
    row_size = dims->row_size;
    if (dims->output_row_stride == row_size)
    {
        row_size *= rows;
        rows = rows > 0 ? 1 : 0;
    }
    if (add8_fast_rows(params, rows, row_size, dims->output_row_stride, input1, input2, output))
    {
        return MCUQ_OK;
    }
    for (r = 0; r < rows; r++)
    {
        add8_run_portable(params, input1 + (size_t)r * row_size, input2 + (size_t)r * row_size,
                          output + (size_t)r * dims->output_row_stride, row_size);
    }
    return MCUQ_OK;
}
