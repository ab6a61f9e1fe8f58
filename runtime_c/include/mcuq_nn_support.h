/*
 * mcuq integer runtime: fixed-point helpers shared by the kernels. Static inline only, so that a
 * helper a model does not use costs nothing; marked unused, as clang warns about an unused static
 * inline function defined in the .c file itself (the generated file copies this header in).
 *
 * Rounding follows CMSIS-NN's default path (no CMSIS_NN_USE_SINGLE_ROUNDING), which is the
 * gemmlowp/TFLite reference rounding:
 *   - doubling high multiply: (a * b + 2^30) >> 31, i.e. round half up;
 *   - divide by 2^n: round half away from zero;
 *   - requantize: the left part of the shift first, then the two roundings above.
 * Every helper is MCUQ_MAYBE_UNUSED: the generated file copies them all, and clang warns about an unused
 * static inline function in a .c file.
 * Where the C code could overflow a signed int (left shifts of negative or large values) it works
 * in uint32_t and converts back, which gives the two's-complement wrap that mcuq/golden.py models
 * instead of undefined behaviour.
 */
#ifndef MCUQ_NN_SUPPORT_H
#define MCUQ_NN_SUPPORT_H

#include "mcuq_nn_types.h"

#define MCUQ_Q31_MIN ((int32_t)(-2147483647 - 1))
#define MCUQ_Q31_MAX ((int32_t)2147483647)

static inline MCUQ_MAYBE_UNUSED int32_t mcuq_max_s32(int32_t a, int32_t b) { return a > b ? a : b; }

static inline MCUQ_MAYBE_UNUSED int32_t mcuq_min_s32(int32_t a, int32_t b) { return a < b ? a : b; }

static inline MCUQ_MAYBE_UNUSED int32_t mcuq_clamp_s32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

/* x * 2^n for n in [0, 31], wrapping modulo 2^32 like the int32 arithmetic of CMSIS-NN. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_shl_wrap_s32(int32_t x, int32_t n) { return (int32_t)((uint32_t)x << n); }

/* Doubling high multiply without saturation (arm_nn_doubling_high_mult_no_sat): round half up.
 * Exact for all inputs except a == b == INT32_MIN, which requantization never produces. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_doubling_high_mult_no_sat(int32_t a, int32_t b)
{
    /* >> of a negative value is implementation-defined in C99; every compiler mcuq supports (gcc,
     * clang, armclang, IAR) shifts arithmetically, as CMSIS-NN also assumes. */
    return (int32_t)(((int64_t)a * (int64_t)b + ((int64_t)1 << 30)) >> 31);
}

/* Saturating rounding doubling high multiply (gemmlowp SaturatingRoundingDoublingHighMul, Arm VQRDMULH,
 * arm_nn_doubling_high_mult): used by the fixed-point exp and reciprocal of softmax. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sat_doubling_high_mult(int32_t a, int32_t b)
{
    if (a == MCUQ_Q31_MIN && b == MCUQ_Q31_MIN)
    {
        return MCUQ_Q31_MAX;
    }
    {
        const int64_t ab = (int64_t)a * (int64_t)b;
        const int64_t nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
        return (int32_t)((ab + nudge) / ((int64_t)1 << 31)); /* C division truncates toward zero */
    }
}

/* x / 2^exponent rounded half away from zero (arm_nn_divide_by_power_of_two); exponent in [0, 31]. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_rounding_divide_by_pot(int32_t x, int32_t exponent)
{
    const int32_t mask = (int32_t)((((uint32_t)1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    int32_t result = x >> exponent; /* arithmetic shift: floor division */
    int32_t threshold = mask >> 1;
    if (result < 0)
    {
        threshold++;
    }
    if (remainder > threshold)
    {
        result++;
    }
    return result;
}

/* arm_nn_requantize, default (double rounding) path: val * multiplier * 2^(shift - 31), rounded. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_requantize(int32_t val, int32_t multiplier, int32_t shift)
{
    const int32_t left_shift = shift > 0 ? shift : 0;
    const int32_t right_shift = shift > 0 ? 0 : -shift;
    return mcuq_rounding_divide_by_pot(mcuq_doubling_high_mult_no_sat(mcuq_shl_wrap_s32(val, left_shift), multiplier),
                                       right_shift);
}

/* mcuq_requantize for a right shift (shift in [-31, -1]) and a non-negative multiplier, in one 64-bit
 * multiply-accumulate instead of two roundings. With P = val * multiplier, n = -shift:
 *   mcuq_requantize = floor((floor((P + 2^30) / 2^31) + 2^(n-1) - [x < 0]) / 2^n),  x the inner floor,
 * and floor((floor(y) + k) / m) = floor((y + k) / m) for integers k, m > 0, so it equals
 *   floor((P + 2^30 + 2^(30+n) - [x < 0] * 2^31) / 2^(31+n)).
 * [x < 0] may be replaced by [val < 0] (the sign of P): the two differ only when x == 0, i.e. P in
 * [-2^30, 0), where both rounding constants give 0 for n >= 1. On a Cortex-M this is SMLAL plus a
 * few ALU instructions; mcuq_requantize takes about three times as many. The kernel tests compare
 * the two on random and extreme values. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_requantize_rshift(int32_t val, int32_t multiplier, int32_t shift)
{
    const int32_t n = -shift;
    /* The rounding constant 2^30 + 2^(30+n) - [val < 0] * 2^31 as two 32-bit halves. */
    const uint32_t lo = n == 1 ? (0xC0000000u ^ ((uint32_t)val & 0x80000000u))
                               : (0x40000000u | ((uint32_t)val & 0x80000000u));
    const int32_t hi = n == 1 ? 0 : (int32_t)(1u << (n - 2)) + (val >> 31);
    const int64_t acc = (int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)val * (int64_t)multiplier;
    return (int32_t)(acc >> 32) >> (n - 1);
}

/* The high word of the 64-bit sum (hi:lo) + a * m, exactly. One SMLAL where the core has it; Armv6-M
 * (Cortex-M0/M0+) has no 32x32->64 multiply, and gcc would call __aeabi_lmul for it: there the product
 * is built from 16-bit halves (four 16x16 MULS whose sums fit 32 bits, carries counted by hand). The
 * host build of the no-DSP kernels (-DMCUQ_EMULATE_NODSP) takes the same halves, so the kernel tests
 * check them against the golden model. */
#if defined(__ARM_ARCH_6M__) || defined(MCUQ_EMULATE_NODSP)
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_mla_s64_hi(int32_t a, int32_t m, int32_t hi, uint32_t lo)
{
    const uint32_t a_lo = (uint32_t)a & 0xFFFFu, m_lo = (uint32_t)m & 0xFFFFu;
    const int32_t a_hi = a >> 16, m_hi = m >> 16;
    /* a * m = a_hi*m_hi * 2^32 + (a_hi*m_lo + a_lo*m_hi) * 2^16 + a_lo*m_lo; each product fits 32 bits. */
    const uint32_t low = a_lo * m_lo;
    const int32_t mid_1 = a_hi * (int32_t)m_lo, mid_2 = (int32_t)a_lo * m_hi;
    const uint32_t add_1 = (uint32_t)mid_1 << 16, add_2 = (uint32_t)mid_2 << 16;
    const uint32_t s0 = lo + low, s1 = s0 + add_1, s2 = s1 + add_2;
    const uint32_t carries = (uint32_t)(s0 < low) + (uint32_t)(s1 < add_1) + (uint32_t)(s2 < add_2);
    return (int32_t)((uint32_t)hi + (uint32_t)(a_hi * m_hi) + (uint32_t)(mid_1 >> 16) + (uint32_t)(mid_2 >> 16) +
                     carries);
}
#else
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_mla_s64_hi(int32_t a, int32_t m, int32_t hi, uint32_t lo)
{
    return (int32_t)(((int64_t)(((uint64_t)(uint32_t)hi << 32) | lo) + (int64_t)a * (int64_t)m) >> 32);
}
#endif

/* mcuq_requantize_rshift for n = -shift >= 2, with a channel's constants hoisted out of its loop:
 * round_hi = 2^(n - 2) and nm1 = n - 1. One SMLAL and four ALU instructions (M0: mcuq_mla_s64_hi's halves).
 * round_hi = 2^(n - 2) + off * 2^(n - 1) returns the result plus off instead, for |off| <= 128 and
 * n <= 23 (adding a multiple of 2^(n-1) before the arithmetic shift by n - 1 adds its quotient exactly;
 * the high word stays within int32, as in the DSP depthwise path's folded offset). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_requantize_rshift2(int32_t val, int32_t multiplier, int32_t round_hi,
                                                                int32_t nm1)
{
    const uint32_t lo = 0x40000000u | ((uint32_t)val & 0x80000000u);
    return mcuq_mla_s64_hi(val, multiplier, round_hi + (val >> 31), lo) >> nm1;
}

/* mcuq_requantize, taking the one-step path for the usual right shifts. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_requantize_fast(int32_t val, int32_t multiplier, int32_t shift)
{
    return shift < 0 ? mcuq_requantize_rshift(val, multiplier, shift) : mcuq_requantize(val, multiplier, shift);
}

/* arm_nn_requantize_s64 with REDUCE_MULTIPLIER, the requantization of CMSIS-NN's 16x8 kernels (TFLite's
 * 64-bit MultiplyByQuantizedMultiplier): the Q31 multiplier rounded to Q15 (saturating at 0x7FFF),
 * val * that >> (14 - shift) truncated to int32 (wrapping), then one more right shift that rounds half
 * up. Needs |val| < 2^47 and shift in [-31, 7] (mcuq_s16_shifts_ok); the final +1 is done in 64 bits so
 * that it cannot overflow. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_requantize_s64(int64_t val, int32_t multiplier, int32_t shift)
{
    const int32_t reduced = multiplier < 0x7FFF0000 ? (multiplier + (1 << 15)) >> 16 : 0x7FFF;
    const int32_t truncated = (int32_t)(uint32_t)(uint64_t)((val * (int64_t)reduced) >> (14 - shift));
    return (int32_t)(((int64_t)truncated + 1) >> 1);
}

/* Every per-channel shift in [lo, hi]. */
static inline MCUQ_MAYBE_UNUSED int mcuq_shifts_within(const int32_t *shift, int32_t channels, int32_t lo, int32_t hi)
{
    int32_t i;
    for (i = 0; i < channels; i++)
    {
        if (shift[i] < lo || shift[i] > hi)
        {
            return 0;
        }
    }
    return 1;
}

/* Every per-channel shift within what mcuq_requantize_s64 takes. */
static inline MCUQ_MAYBE_UNUSED int mcuq_s16_shifts_ok(const int32_t *shift, int32_t channels)
{
    return mcuq_shifts_within(shift, channels, -31, 7);
}

/* ---- gemmlowp fixed-point functions used by softmax ---- */

/* x * 2^exponent, saturating (gemmlowp SaturatingRoundingMultiplyByPOT); exponent in [1, 30]. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_sat_mult_by_pot(int32_t x, int32_t exponent)
{
    const int32_t threshold = (int32_t)((1u << (31 - exponent)) - 1u);
    if (x > threshold)
    {
        return MCUQ_Q31_MAX;
    }
    if (x < -threshold)
    {
        return MCUQ_Q31_MIN;
    }
    return mcuq_shl_wrap_s32(x, exponent);
}

/* exp(x) for x <= 0 given in Q5.26, result in Q0.31 (gemmlowp exp_on_negative_values): exp on
 * [-1/4, 0) by a Taylor polynomial around -1/8, times exp(-2^k / 4) for each set bit k of the rest. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_exp_on_negative_values(int32_t val)
{
    static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
    const int32_t exp_minus_one_eighth = 1895147668;
    const int32_t one_third = 715827883;
    const int32_t val_mod_minus_quarter = (val & ((1 << 24) - 1)) - (1 << 24);
    const int32_t remainder = val_mod_minus_quarter - val;
    const int32_t x = val_mod_minus_quarter * 32 + (1 << 28); /* Q0.31, shifted by +1/8 */
    const int32_t x2 = mcuq_sat_doubling_high_mult(x, x);
    const int32_t x3 = mcuq_sat_doubling_high_mult(x2, x);
    const int32_t x4_over_4 = mcuq_rounding_divide_by_pot(mcuq_sat_doubling_high_mult(x2, x2), 2);
    const int32_t poly = mcuq_rounding_divide_by_pot(mcuq_sat_doubling_high_mult(x4_over_4 + x3, one_third) + x2, 1);
    int32_t result = exp_minus_one_eighth + mcuq_sat_doubling_high_mult(exp_minus_one_eighth, x + poly);
    int32_t k;

    for (k = 0; k < 7; k++)
    {
        if ((remainder & (1 << (24 + k))) != 0)
        {
            result = mcuq_sat_doubling_high_mult(result, barrel[k]);
        }
    }
    return val == 0 ? MCUQ_Q31_MAX : result;
}

/* 1 / (1 + x) for x in [0, 1) in Q0.31, result in Q0.31 (gemmlowp one_over_one_plus_x_for_x_in_0_1):
 * three Newton-Raphson steps from 48/17 - 32/17 * d, d = (1 + x) / 2 in Q2.29 arithmetic. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_one_over_one_plus_x_for_x_in_0_1(int32_t val)
{
    const int64_t sum = (int64_t)val + (int64_t)MCUQ_Q31_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t one_q29 = 1 << 29;
    int32_t x = 1515870810 + mcuq_sat_doubling_high_mult(half_denominator, -1010580540);
    int32_t i;

    for (i = 0; i < 3; i++)
    {
        const int32_t err = one_q29 - mcuq_sat_doubling_high_mult(half_denominator, x);
        x += mcuq_sat_mult_by_pot(mcuq_sat_doubling_high_mult(x, err), 2);
    }
    return mcuq_sat_mult_by_pot(x, 1);
}

/* Number of leading zero bits of x (32 for 0). */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_clz_u32(uint32_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return x == 0u ? 32 : (int32_t)__builtin_clz(x);
#else
    int32_t n = 0;
    if (x == 0u)
    {
        return 32;
    }
    while ((x & 0x80000000u) == 0u)
    {
        x <<= 1;
        n++;
    }
    return n;
#endif
}

/* Product of the dims of an NHWC tensor, or -1 if one is negative or the product overflows int32. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_dims_size(const mcuq_dims *d)
{
    const int32_t f[4] = {d->n, d->h, d->w, d->c};
    int64_t size = 1;
    int i;
    for (i = 0; i < 4; i++)
    {
        if (f[i] < 0)
        {
            return -1;
        }
        size *= f[i];
        if (size > MCUQ_Q31_MAX)
        {
            return -1;
        }
    }
    return (int32_t)size;
}

/* Output extent of a sliding window (floor mode): what the caller's output dims must equal; 0 when
 * the window does not fit the padded input at all. */
static inline MCUQ_MAYBE_UNUSED int32_t mcuq_window_out_size(int32_t in, int32_t pad_before, int32_t pad_after,
                                                             int32_t kernel, int32_t stride, int32_t dilation)
{
    const int32_t room = in + pad_before + pad_after - dilation * (kernel - 1) - 1;
    return room < 0 ? 0 : room / stride + 1;
}

/* Elementwise extent: non-negative, rows not overlapping, and rows * output_row_stride within int32. */
static inline MCUQ_MAYBE_UNUSED int mcuq_elementwise_dims_ok(const mcuq_elementwise_dims *dims)
{
    return dims->rows >= 0 && dims->row_size >= 0 && dims->output_row_stride >= dims->row_size &&
           (int64_t)dims->rows * dims->output_row_stride <= MCUQ_Q31_MAX;
}

/* Activation clamp within int8 and ordered. */
static inline MCUQ_MAYBE_UNUSED int mcuq_activation_ok(const mcuq_activation *act)
{
    return act->min >= -128 && act->max <= 127 && act->min <= act->max;
}

/* Activation clamp within int16 and ordered. */
/* Fully connected dims with no negative extent and no tensor of more than 2^31 - 1 elements. */
static inline MCUQ_MAYBE_UNUSED int mcuq_fc_dims_ok(const mcuq_fc_dims *dims)
{
    return dims->batches >= 0 && dims->input_depth >= 0 && dims->output_depth >= 0 &&
           (int64_t)dims->batches * dims->input_depth <= MCUQ_Q31_MAX &&
           (int64_t)dims->output_depth * dims->input_depth <= MCUQ_Q31_MAX &&
           (int64_t)dims->batches * dims->output_depth <= MCUQ_Q31_MAX;
}

static inline MCUQ_MAYBE_UNUSED int mcuq_activation_s16_ok(const mcuq_activation *act)
{
    return act->min >= -32768 && act->max <= 32767 && act->min <= act->max;
}

/* A convolution window: positive stride and dilation, non-negative padding, valid dims, and output H, W
 * that match the floor-mode window formula for a kernel of kernel_h x kernel_w. */
static inline MCUQ_MAYBE_UNUSED int mcuq_conv_window_ok(const mcuq_tile *stride, const mcuq_tile *dilation, const mcuq_padding *padding,
                                      const mcuq_dims *input_dims, int32_t kernel_h, int32_t kernel_w,
                                      const mcuq_dims *output_dims)
{
    return stride->h >= 1 && stride->w >= 1 && dilation->h >= 1 && dilation->w >= 1 && padding->top >= 0 &&
           padding->left >= 0 && padding->bottom >= 0 && padding->right >= 0 && mcuq_dims_size(input_dims) >= 0 &&
           mcuq_dims_size(output_dims) >= 0 && output_dims->n == input_dims->n &&
           output_dims->h == mcuq_window_out_size(input_dims->h, padding->top, padding->bottom, kernel_h, stride->h,
                                                  dilation->h) &&
           output_dims->w == mcuq_window_out_size(input_dims->w, padding->left, padding->right, kernel_w, stride->w,
                                                  dilation->w);
}

/* First kernel tap k in [0, kernel) with base + k * dilation >= 0, and one past the last tap with
 * base + k * dilation < size (a window clipped to the input, so that inner loops test no bounds). */
static inline MCUQ_MAYBE_UNUSED void mcuq_window_tap_range(int32_t base, int32_t dilation, int32_t kernel, int32_t size,
                                         int32_t *first, int32_t *end)
{
    int32_t k0 = 0;
    int32_t k1 = kernel;
    if (base < 0)
    {
        k0 = (-base + dilation - 1) / dilation;
    }
    if (base + (kernel - 1) * dilation >= size)
    {
        k1 = size - base <= 0 ? 0 : (size - base + dilation - 1) / dilation;
    }
    *first = k0;
    *end = k1 < k0 ? k0 : k1;
}

/* Pooling geometry shared by max and average pooling of both widths: positive window and stride,
 * non-negative padding, and output dims that match the floor-mode window formula (the clamp is checked
 * by the caller, against its own width). */
static inline MCUQ_MAYBE_UNUSED int mcuq_pool_geometry_ok(const mcuq_pool_params *params, const mcuq_dims *input_dims,
                                        const mcuq_dims *output_dims)
{
    return params->kernel.h >= 1 && params->kernel.w >= 1 && params->stride.h >= 1 && params->stride.w >= 1 &&
           params->padding.top >= 0 && params->padding.left >= 0 && params->padding.bottom >= 0 &&
           params->padding.right >= 0 && mcuq_dims_size(input_dims) >= 0 && mcuq_dims_size(output_dims) >= 0 &&
           output_dims->n == input_dims->n && output_dims->c == input_dims->c &&
           params->output_pixel_stride >= output_dims->c &&
           output_dims->h == mcuq_window_out_size(input_dims->h, params->padding.top, params->padding.bottom,
                                                  params->kernel.h, params->stride.h, 1) &&
           output_dims->w == mcuq_window_out_size(input_dims->w, params->padding.left, params->padding.right,
                                                  params->kernel.w, params->stride.w, 1);
}

/* Pooling arguments of the int8 kernels: the geometry and an int8 clamp. */
static inline MCUQ_MAYBE_UNUSED int mcuq_pool_args_ok(const mcuq_pool_params *params, const mcuq_dims *input_dims,
                                    const mcuq_dims *output_dims)
{
    return mcuq_activation_ok(&params->activation) && mcuq_pool_geometry_ok(params, input_dims, output_dims);
}

/* ---- Broadcasting elementwise kernels: the output as rows of C channels, one per pixel ---- */

/* Every operand dim is the output's or 1, and every size fits int32. */
static inline MCUQ_MAYBE_UNUSED int mcuq_broadcast_dims_ok(const mcuq_broadcast_dims *d)
{
    const mcuq_dims *const out = &d->output;
    const mcuq_dims *const in[2] = {&d->input1, &d->input2};
    int k;
    if (mcuq_dims_size(out) < 0)
    {
        return 0;
    }
    for (k = 0; k < 2; k++)
    {
        if (mcuq_dims_size(in[k]) < 0 || (in[k]->n != out->n && in[k]->n != 1) ||
            (in[k]->h != out->h && in[k]->h != 1) || (in[k]->w != out->w && in[k]->w != 1) ||
            (in[k]->c != out->c && in[k]->c != 1))
        {
            return 0;
        }
    }
    return 1;
}

/* An operand's element steps along n, h, w, c: its dense strides, 0 along a dim it repeats over. */
static inline MCUQ_MAYBE_UNUSED mcuq_dims mcuq_broadcast_steps(const mcuq_dims *in, const mcuq_dims *out)
{
    mcuq_dims s;
    s.c = in->c == out->c ? 1 : 0;
    s.w = in->w == out->w ? in->c : 0;
    s.h = in->h == out->h ? in->w * in->c : 0;
    s.n = in->n == out->n ? in->h * in->w * in->c : 0;
    return s;
}

/* One output row (a pixel's channels) and where its operands' values are: step 1, along the row;
 * step 0, one value for the whole row. */
typedef struct {
    const int8_t *input1;
    const int8_t *input2;
    int8_t *output;
    int32_t step1;
    int32_t step2;
    int32_t size;
} mcuq_broadcast_row;

typedef void (*mcuq_broadcast_row_fn)(const void *params, const mcuq_broadcast_row *row);

/* Pixels outer, channels inner: `row_fn` (chosen once by the kernel) computes each output row, so a
 * per-channel operand (an SE gate) is reread from the same C bytes for every pixel. */
static inline MCUQ_MAYBE_UNUSED void mcuq_broadcast_rows(const mcuq_broadcast_dims *dims, const int8_t *input1,
                                                         const int8_t *input2, int8_t *output,
                                                         mcuq_broadcast_row_fn row_fn, const void *params)
{
    const mcuq_dims s1 = mcuq_broadcast_steps(&dims->input1, &dims->output);
    const mcuq_dims s2 = mcuq_broadcast_steps(&dims->input2, &dims->output);
    mcuq_broadcast_row row;
    int32_t n, h, w;
    row.step1 = s1.c;
    row.step2 = s2.c;
    row.size = dims->output.c;
    row.output = output;
    for (n = 0; n < dims->output.n; n++)
    {
        for (h = 0; h < dims->output.h; h++)
        {
            for (w = 0; w < dims->output.w; w++)
            {
                row.input1 = input1 + (size_t)n * s1.n + (size_t)h * s1.h + (size_t)w * s1.w;
                row.input2 = input2 + (size_t)n * s2.n + (size_t)h * s2.h + (size_t)w * s2.w;
                row_fn(params, &row);
                row.output += row.size;
            }
        }
    }
}

#endif /* MCUQ_NN_SUPPORT_H */
