/*
 * mcuq_batch_matmul_s8: MatMul of two int8 activations, the right one given transposed.
 *
 * Semantics of CMSIS-NN's arm_batch_matmul_s8 (TFLite int8 BatchMatMul with adj_y): for each batch b,
 * lhs row m and rhs row n (a column of the product),
 *   acc = sum_k (lhs[b, m, k] + lhs_offset) * (rhs[b, n, k] + rhs_offset)
 *   out[b, m, n] = clamp(requantize(acc, quant) + output_offset, activation.min, activation.max).
 * Both operands are activations, so no offset can be folded into a constant bias as in fully connected.
 *
 * Fast paths, for the inner dot products only: DSP two rhs rows at a time, four depth elements per step,
 * the offsets added in 16-bit lanes by SXTAB16 (lhs unpacked once for both rows) and the products summed
 * by SMLAD; MVE sixteen elements per VMLADAVA.S8 on the raw bytes, the offsets applied once per output
 * from the row sums (VADDVA.S8): acc = x.y + rhs_offset sum x + lhs_offset sum y + depth lhs_offset rhs_offset,
 * whose terms are each below 2^28 for depth <= 16384. Both requantize with mcuq_requantize_fast (equal
 * to mcuq_requantize). The output is written while both inputs are still read: never in place.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn_simd.h"

#define MCUQ_BATCH_MATMUL_MAX_DEPTH 16384

static int8_t bmm_output(const mcuq_batch_matmul_params *params, int32_t acc)
{
    const int32_t r = mcuq_requantize_fast(acc, params->quant.multiplier, params->quant.shift) + params->output_offset;
    return (int8_t)mcuq_clamp_s32(r, params->activation.min, params->activation.max);
}

#if defined(MCUQ_PATH_MVE)

static int32_t bmm_sum(const int8_t *x, int32_t depth)
{
    int32_t sum = 0, k;
    for (k = 0; k + 16 <= depth; k += 16)
    {
        sum = vaddvaq_s8(sum, vldrbq_s8(x + k));
    }
    if (k < depth)
    {
        const mve_pred16_t p = vctp8q((uint32_t)(depth - k));
        sum = vaddvaq_p_s8(sum, vldrbq_z_s8(x + k, p), p);
    }
    return sum;
}

/* x . y and sum y over depth elements. */
static int32_t bmm_dot(const int8_t *x, const int8_t *y, int32_t depth, int32_t *sum_y)
{
    int32_t acc = 0, sum = 0, k;
    for (k = 0; k + 16 <= depth; k += 16)
    {
        const int8x16_t vy = vldrbq_s8(y + k);
        acc = vmladavaq_s8(acc, vldrbq_s8(x + k), vy);
        sum = vaddvaq_s8(sum, vy);
    }
    if (k < depth)
    {
        const mve_pred16_t p = vctp8q((uint32_t)(depth - k));
        const int8x16_t vy = vldrbq_z_s8(y + k, p);
        acc = vmladavaq_p_s8(acc, vldrbq_z_s8(x + k, p), vy, p);
        sum = vaddvaq_p_s8(sum, vy, p);
    }
    *sum_y = sum;
    return acc;
}

/* One lhs row against every rhs row of its batch. Out of line, like every fast loop (MCUQ_MISC_NOINLINE). */
static MCUQ_MISC_NOINLINE void bmm_row_fast(const mcuq_batch_matmul_params *params, const int8_t *x,
                                            const int8_t *rhs, int32_t rhs_rows, int32_t depth, int8_t *out)
{
    const int32_t lo = params->lhs_offset, ro = params->rhs_offset;
    const int32_t row_term = ro * bmm_sum(x, depth) + depth * lo * ro;
    int32_t n;
    for (n = 0; n < rhs_rows; n++)
    {
        int32_t sum_y;
        const int32_t dot = bmm_dot(x, rhs + (size_t)n * depth, depth, &sum_y);
        out[n] = bmm_output(params, dot + row_term + lo * sum_y);
    }
}

#elif defined(MCUQ_HAVE_DSP)

/* An offset in both 16-bit halves of a word (the SXTAB16 addend). */
static int32_t bmm_twice(int32_t offset)
{
    return (int32_t)(((uint32_t)offset & 0xFFFFu) | ((uint32_t)offset << 16));
}

/* acc[j] = (x + lo) . (y_j + ro) for the two rows y0, y1. */
static void bmm_dot2(const int8_t *x, const int8_t *y0, const int8_t *y1, int32_t depth, int32_t lo, int32_t ro,
                     int32_t *acc)
{
    const int32_t lo2 = bmm_twice(lo), ro2 = bmm_twice(ro);
    int32_t a0 = 0, a1 = 0, k;
    for (k = 0; k + 4 <= depth; k += 4)
    {
        const int32_t xw = mcuq_read_s8x4(x + k);
        const int32_t x02 = mcuq_sxtab16(lo2, xw), x13 = mcuq_sxtab16_ror8(lo2, xw);
        const int32_t v0 = mcuq_read_s8x4(y0 + k), v1 = mcuq_read_s8x4(y1 + k);
        a0 = mcuq_smlad(x02, mcuq_sxtab16(ro2, v0), a0);
        a0 = mcuq_smlad(x13, mcuq_sxtab16_ror8(ro2, v0), a0);
        a1 = mcuq_smlad(x02, mcuq_sxtab16(ro2, v1), a1);
        a1 = mcuq_smlad(x13, mcuq_sxtab16_ror8(ro2, v1), a1);
    }
    for (; k < depth; k++)
    {
        a0 += ((int32_t)x[k] + lo) * ((int32_t)y0[k] + ro);
        a1 += ((int32_t)x[k] + lo) * ((int32_t)y1[k] + ro);
    }
    acc[0] = a0;
    acc[1] = a1;
}

static MCUQ_MISC_NOINLINE void bmm_row_fast(const mcuq_batch_matmul_params *params, const int8_t *x,
                                            const int8_t *rhs, int32_t rhs_rows, int32_t depth, int8_t *out)
{
    int32_t n;
    for (n = 0; n < rhs_rows; n += 2)
    {
        int32_t acc[2];
        const int32_t pair = n + 1 < rhs_rows ? 2 : 1;
        bmm_dot2(x, rhs + (size_t)n * depth, rhs + (size_t)(n + pair - 1) * depth, depth, params->lhs_offset,
                 params->rhs_offset, acc);
        out[n] = bmm_output(params, acc[0]);
        if (pair == 2)
        {
            out[n + 1] = bmm_output(params, acc[1]);
        }
    }
}

#endif

/* The portable row: one dot product per output (the reference the fast rows equal). */
static MCUQ_MAYBE_UNUSED void bmm_row(const mcuq_batch_matmul_params *params, const int8_t *x, const int8_t *rhs, int32_t rhs_rows,
                    int32_t depth, int8_t *out)
{
    int32_t n, k;
    for (n = 0; n < rhs_rows; n++)
    {
        const int8_t *const y = rhs + (size_t)n * depth;
        int32_t acc = 0;
        for (k = 0; k < depth; k++)
        {
            acc += ((int32_t)x[k] + params->lhs_offset) * ((int32_t)y[k] + params->rhs_offset);
        }
        out[n] = bmm_output(params, acc);
    }
}

MCUQ_API mcuq_status mcuq_batch_matmul_s8(const mcuq_batch_matmul_params *params,
                                          const mcuq_batch_matmul_dims *dims,
                                          const int8_t *lhs,
                                          const int8_t *rhs_transposed,
                                          int8_t *output)
{
    int32_t b, m;

    if (params == NULL || dims == NULL || lhs == NULL || rhs_transposed == NULL || output == NULL)
    {
        return MCUQ_ARG_ERROR;
    }
    if (params->lhs_offset < -128 || params->lhs_offset > 128 || params->rhs_offset < -128 ||
        params->rhs_offset > 128 || params->quant.multiplier < 0 || params->quant.shift > 30 ||
        params->quant.shift < -31 || !mcuq_activation_ok(&params->activation) || dims->batches < 0 ||
        dims->lhs_rows < 0 || dims->rhs_rows < 0 || dims->depth < 1 || dims->depth > MCUQ_BATCH_MATMUL_MAX_DEPTH)
    {
        return MCUQ_ARG_ERROR;
    }
    for (b = 0; b < dims->batches; b++)
    {
        const int8_t *const rhs = rhs_transposed + (size_t)b * dims->rhs_rows * dims->depth;
        for (m = 0; m < dims->lhs_rows; m++)
        {
            const size_t row = (size_t)b * dims->lhs_rows + (size_t)m;
            const int8_t *const x = lhs + row * (size_t)dims->depth;
            int8_t *const out = output + row * (size_t)dims->rhs_rows;
#if defined(MCUQ_PATH_MVE) || defined(MCUQ_HAVE_DSP)
            bmm_row_fast(params, x, rhs, dims->rhs_rows, dims->depth, out);
#else
            bmm_row(params, x, rhs, dims->rhs_rows, dims->depth, out);
#endif
        }
    }
    return MCUQ_OK;
}
