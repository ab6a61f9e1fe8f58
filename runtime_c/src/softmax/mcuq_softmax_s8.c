/*
 * mcuq_softmax_s8: int8 softmax over rows, output scale 1/256 and zero point -128.
 *
 * Bit-exact with CMSIS-NN's arm_softmax_s8 (portable path) and TFLite Micro's int8 softmax:
 *   diff = x - max(row); elements with diff < diff_min give -128 and nothing to the sum;
 *   e = exp(diff * 2^input_left_shift * input_multiplier)  in Q0.31, input as Q5.26 (gemmlowp exp);
 *   sum = sum of e / 2^12 (Q12.19);
 *   out = e * 1/sum (gemmlowp Newton-Raphson reciprocal) / 2^bits_over_unit - 128, clamped.
 * For int8 input diff takes only the values -255..0, so e is read from params->exp_table[-diff],
 * computed at compile time with the same fixed-point functions (0 below diff_min, which gives
 * exactly the -128 and the nothing-to-the-sum above); arm_softmax_s8 evaluates the exp per element.
 * One deviation where CMSIS-NN has undefined behaviour: for rows whose exp sum reaches 2^28
 * (hundreds of elements near the maximum) bits_over_unit exceeds 31 and CMSIS-NN shifts an int32
 * by 32 or more; the exact result of that division is 0 here, which is what mcuq/golden.py computes.
 * Paths: MVE reduces the max 16 bytes per step and gathers four table entries per VLDRW; DSP takes the
 * max four bytes per SSUB8/SEL; the portable path one element at a time. All give the same bytes.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

#define MCUQ_SOFTMAX_ACCUM_BITS 12
/* Each element adds at most 2^19 to the Q12.19 sum: 4095 elements keep it below 2^31. */
#define MCUQ_SOFTMAX_MAX_ROW 4095

/* e / 2^ACCUM_BITS rounded (mcuq_rounding_divide_by_pot), for e >= 0 as every table entry is: the
 * quotient plus the remainder's top bit (not e + 2^11, which overflows for e near 2^31). */
static inline int32_t softmax8_accum_term(int32_t e)
{
    return (e >> MCUQ_SOFTMAX_ACCUM_BITS) + ((e >> (MCUQ_SOFTMAX_ACCUM_BITS - 1)) & 1);
}

/* 1 / sum in Q0.31 and the shift that scales e * (1 / sum) to the output's 1/256 steps. The row
 * maximum contributes 2^19, so sum > 0; normalized, sum = 1 + x with x in [0, 1). */
static inline int32_t softmax8_reciprocal(int32_t sum, int32_t *bits_over_unit)
{
    const int32_t headroom = mcuq_clz_u32((uint32_t)sum);
    *bits_over_unit = MCUQ_SOFTMAX_ACCUM_BITS - headroom + 23;
    return mcuq_one_over_one_plus_x_for_x_in_0_1((int32_t)(((uint32_t)sum << headroom) - 0x80000000u));
}

#if defined(MCUQ_PATH_MVE)
/* One row, four elements per step (tails predicated). Exact: the table entries and 1/sum are >= 0,
 * where VQRDMULH is the saturating rounding doubling high multiply and VRSHL by -n (and VRSHR) the
 * rounding divide by 2^n; VRSHL by -32 or more gives 0, the exact result of that division. */
static MCUQ_MISC_NOINLINE void softmax8_row(const int32_t *table, const int8_t *in, int8_t *out, int32_t row_size)
{
    int32_t col;
    int8_t max = -128;
    int32_t sum = 0;
    int32_t bits_over_unit, scale;
    int32x4_t vmax;

    for (col = 0; col < row_size; col += 16)
    {
        const mve_pred16_t p = vctp8q((uint32_t)(row_size - col));
        max = vmaxvq_p_s8(max, vldrbq_z_s8(in + col, p), p);
    }
    vmax = vdupq_n_s32(max);
    for (col = 0; col < row_size; col += 4)
    {
        const mve_pred16_t p = vctp32q((uint32_t)(row_size - col));
        const uint32x4_t k = vreinterpretq_u32_s32(vsubq_s32(vmax, vldrbq_z_s32(in + col, p)));
        const int32x4_t e = vldrwq_gather_shifted_offset_z_s32(table, k, p);
        sum = vaddvaq_p_s32(sum, vrshrq_n_s32(e, MCUQ_SOFTMAX_ACCUM_BITS), p);
    }
    scale = softmax8_reciprocal(sum, &bits_over_unit);
    {
        const int32x4_t right = vdupq_n_s32(-mcuq_min_s32(bits_over_unit, 32));
        for (col = 0; col < row_size; col += 4)
        {
            const mve_pred16_t p = vctp32q((uint32_t)(row_size - col));
            const uint32x4_t k = vreinterpretq_u32_s32(vsubq_s32(vmax, vldrbq_z_s32(in + col, p)));
            const int32x4_t e = vldrwq_gather_shifted_offset_z_s32(table, k, p);
            const int32x4_t res = vaddq_n_s32(vrshlq_s32(vqrdmulhq_n_s32(e, scale), right), -128);
            vstrbq_p_s32(out + col, vminq_s32(res, vdupq_n_s32(127)), p);
        }
    }
}
#else
static inline int32_t softmax8_row_max(const int8_t *in, int32_t row_size)
{
    int32_t col = 0;
    int32_t max = in[0];
#if defined(MCUQ_HAVE_DSP)
    if (row_size >= 4)
    {
        int32_t max4 = mcuq_read_s8x4(in);
        for (col = 4; col + 4 <= row_size; col += 4)
        {
            max4 = mcuq_max_s8x4(max4, mcuq_read_s8x4(in + col));
        }
        max4 = mcuq_max_s8x4(max4, (int32_t)(((uint32_t)max4 >> 16) | ((uint32_t)max4 << 16)));
        max = mcuq_max_s32((int8_t)(uint8_t)((uint32_t)max4 & 0xFFu), (int8_t)(uint8_t)(((uint32_t)max4 >> 8) & 0xFFu));
    }
#endif
    for (; col < row_size; col++)
    {
        max = mcuq_max_s32(max, in[col]);
    }
    return max;
}

/* One row. Out of line: the generated model's run function must not inline its frame. */
static MCUQ_MISC_NOINLINE void softmax8_row(const int32_t *table, const int8_t *in, int8_t *out, int32_t row_size)
{
    int32_t col;
    const int32_t max = softmax8_row_max(in, row_size);
    int32_t sum = 0;
    int32_t bits_over_unit, scale;

    for (col = 0; col < row_size; col++)
    {
        sum += softmax8_accum_term(table[max - in[col]]);
    }
    scale = softmax8_reciprocal(sum, &bits_over_unit);
    if (bits_over_unit > 31)
    {
        /* e * (1 / sum) >= 0 and < 2^31: a division by 2^32 or more rounds to 0 for every element. */
        for (col = 0; col < row_size; col++)
        {
            out[col] = -128;
        }
        return;
    }
    /* The row max adds 2^19 to the sum, so bits_over_unit >= 23: a right shift, as the one-step form of
     * rounding_divide_by_pot(sat_doubling_high_mult(e, scale), bits_over_unit) requires. */
    for (col = 0; col < row_size; col++)
    {
        const int32_t res = mcuq_requantize_rshift(table[max - in[col]], scale, -bits_over_unit) - 128;
        out[col] = (int8_t)mcuq_min_s32(res, 127); /* res >= -128: the product is >= 0 */
    }
}
#endif

MCUQ_API mcuq_status mcuq_softmax_s8(const mcuq_softmax_params *params,
                                     const int8_t *input,
                                     int32_t num_rows,
                                     int32_t row_size,
                                     int8_t *output)
{
    int32_t row;

    if (params == NULL || params->exp_table == NULL || input == NULL || output == NULL || num_rows < 0 ||
        row_size < 1 || row_size > MCUQ_SOFTMAX_MAX_ROW)
    {
        return MCUQ_ARG_ERROR;
    }

    for (row = 0; row < num_rows; row++)
    {
        softmax8_row(params->exp_table, input + (size_t)row * row_size, output + (size_t)row * row_size, row_size);
    }
    return MCUQ_OK;
}
