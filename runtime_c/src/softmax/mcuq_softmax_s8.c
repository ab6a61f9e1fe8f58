/*
 * mcuq_softmax_s8: int8 softmax over rows, output scale 1/256 and zero point -128.
 *
 * Bit-exact with CMSIS-NN's arm_softmax_s8 (portable path) and TFLite Micro's int8 softmax:
 *   diff = x - max(row); elements with diff < diff_min give -128 and nothing to the sum;
 *   e = exp(diff * 2^input_left_shift * input_multiplier)  in Q0.31, input as Q5.26 (gemmlowp exp);
 *   sum = sum of e / 2^12 (Q12.19);
 *   out = e * 1/sum (gemmlowp Newton-Raphson reciprocal) / 2^bits_over_unit - 128, clamped.
 * One deviation where CMSIS-NN has undefined behaviour: for rows whose exp sum reaches 2^28
 * (hundreds of elements near the maximum) bits_over_unit exceeds 31 and CMSIS-NN shifts an int32
 * by 32 or more; the exact result of that division is 0 here, which is what mcuq/golden.py computes.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

#define MCUQ_SOFTMAX_ACCUM_BITS 12
/* Each element adds at most 2^19 to the Q12.19 sum: 4095 elements keep it below 2^31. */
#define MCUQ_SOFTMAX_MAX_ROW 4095
/* Rows up to this long keep their exp values on the stack between the two passes (classifier
 * outputs: 10-12 classes), so that each exp is computed once; longer rows compute it twice. */
#define MCUQ_SOFTMAX_CACHED 16

/* One row. Out of line: its exp cache must not join the frame of a caller that inlines the kernel. */
static MCUQ_MISC_NOINLINE void softmax8_row(const mcuq_softmax_params *params, const int8_t *in, int8_t *out,
                                            int32_t row_size)
{
    int32_t col;
    int32_t max = in[0];
    int32_t sum = 0;
    int32_t headroom, bits_over_unit, shifted_scale;
    int32_t cache[MCUQ_SOFTMAX_CACHED]; /* exp of each element of a short row (0: below diff_min) */
    const int cached = row_size <= MCUQ_SOFTMAX_CACHED;

    for (col = 1; col < row_size; col++)
    {
        max = mcuq_max_s32(max, in[col]);
    }

    /* The entry point's diff_min check guarantees that diff * 2^input_left_shift fits int32 here. */
    for (col = 0; col < row_size; col++)
    {
        const int32_t diff = in[col] - max;
        int32_t e = 0;
        if (diff >= params->diff_min)
        {
            const int32_t scaled = mcuq_sat_doubling_high_mult(diff * (1 << params->input_left_shift),
                                                               params->input_multiplier);
            e = mcuq_exp_on_negative_values(scaled);
            sum += mcuq_rounding_divide_by_pot(e, MCUQ_SOFTMAX_ACCUM_BITS);
        }
        if (cached)
        {
            cache[col] = e;
        }
    }

    /* The row maximum contributes 2^19, so sum > 0. Normalized, sum = 1 + x with x in [0, 1). */
    headroom = mcuq_clz_u32((uint32_t)sum);
    shifted_scale = mcuq_one_over_one_plus_x_for_x_in_0_1((int32_t)(((uint32_t)sum << headroom) - 0x80000000u));
    bits_over_unit = MCUQ_SOFTMAX_ACCUM_BITS - headroom + 23;

    for (col = 0; col < row_size; col++)
    {
        const int32_t diff = in[col] - max;
        int32_t res = -128;
        if (diff >= params->diff_min)
        {
            const int32_t e = cached ? cache[col]
                                     : mcuq_exp_on_negative_values(mcuq_sat_doubling_high_mult(
                                           diff * (1 << params->input_left_shift), params->input_multiplier));
            const int32_t prob = mcuq_sat_doubling_high_mult(shifted_scale, e);
            /* prob >= 0 and < 2^31: a division by 2^32 or more rounds to 0. */
            res = (bits_over_unit > 31 ? 0 : mcuq_rounding_divide_by_pot(prob, bits_over_unit)) - 128;
            res = mcuq_clamp_s32(res, -128, 127);
        }
        out[col] = (int8_t)res;
    }
}

MCUQ_API mcuq_status mcuq_softmax_s8(const mcuq_softmax_params *params,
                                     const int8_t *input,
                                     int32_t num_rows,
                                     int32_t row_size,
                                     int8_t *output)
{
    int32_t row;

    if (params == NULL || input == NULL || output == NULL || num_rows < 0 || row_size < 1 ||
        row_size > MCUQ_SOFTMAX_MAX_ROW || params->input_left_shift < 0 || params->input_left_shift > 30 ||
        params->diff_min > 0 || -params->diff_min > (MCUQ_Q31_MAX >> params->input_left_shift))
    {
        return MCUQ_ARG_ERROR;
    }

    for (row = 0; row < num_rows; row++)
    {
        softmax8_row(params, input + (size_t)row * row_size, output + (size_t)row * row_size, row_size);
    }
    return MCUQ_OK;
}
