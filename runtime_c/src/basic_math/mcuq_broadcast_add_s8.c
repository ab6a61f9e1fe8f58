/*
 * mcuq_broadcast_add_s8: int8 addition of two operands whose [N,H,W,C] dims broadcast to the output's
 * (each dim the output's or 1): per-pixel maps [N,H,W,1], learned offsets [1,H,W,C], per-channel
 * terms [N,1,1,C], a constant operand. The arithmetic is mcuq_elementwise_add_s8's (TFLite int8 Add):
 *   a = requantize((in1 + input1_offset) << left_shift, input1 multiplier, input1 shift)
 *   b = requantize((in2 + input2_offset) << left_shift, input2 multiplier, input2 shift)
 *   out = clamp(requantize(a + b, output multiplier, output shift) + output_offset, act.min, act.max)
 * A negative input2 multiplier makes it in1 - in2 (Sub). The output is written pixel by pixel, each
 * row of C channels after its operands' elements were read: in place over an operand of the output's
 * dims is allowed, never over a broadcast one (it is read again for later pixels).
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"

/* One input's rescaled value (TFLite's scaled_input). */
static inline int32_t badd8_scaled(int32_t x, int32_t offset, int32_t left_shift, const mcuq_per_tensor_quant *q)
{
    return mcuq_requantize((x + offset) * (1 << left_shift), q->multiplier, q->shift);
}

/* One row; an operand with step 0 is one value for the row, rescaled once. */
static void badd8_row(const void *vparams, const mcuq_broadcast_row *row)
{
    const mcuq_add_params *const p = (const mcuq_add_params *)vparams;
    const int32_t a0 = badd8_scaled(row->input1[0], p->input1_offset, p->left_shift, &p->input1_quant);
    const int32_t b0 = badd8_scaled(row->input2[0], p->input2_offset, p->left_shift, &p->input2_quant);
    int32_t i;
    for (i = 0; i < row->size; i++)
    {
        const int32_t a = row->step1 ? badd8_scaled(row->input1[i], p->input1_offset, p->left_shift, &p->input1_quant)
                                     : a0;
        const int32_t b = row->step2 ? badd8_scaled(row->input2[i], p->input2_offset, p->left_shift, &p->input2_quant)
                                     : b0;
        const int32_t sum = mcuq_requantize(a + b, p->output_quant.multiplier, p->output_quant.shift) + p->output_offset;
        row->output[i] = (int8_t)mcuq_clamp_s32(sum, p->activation.min, p->activation.max);
    }
}

MCUQ_API mcuq_status mcuq_broadcast_add_s8(const mcuq_add_params *params,
                                           const mcuq_broadcast_dims *dims,
                                           const int8_t *input1,
                                           const int8_t *input2,
                                           int8_t *output)
{
    if (params == NULL || dims == NULL || input1 == NULL || input2 == NULL || output == NULL ||
        !mcuq_broadcast_dims_ok(dims) || !mcuq_activation_ok(&params->activation))
    {
        return MCUQ_ARG_ERROR;
    }
    /* (in + offset) is at most 383 in magnitude: shifting it left by up to 22 stays in int32. */
    if (params->left_shift < 0 || params->left_shift > 22 || params->input1_offset < -255 ||
        params->input1_offset > 255 || params->input2_offset < -255 || params->input2_offset > 255)
    {
        return MCUQ_ARG_ERROR;
    }
    if (dims->output.c > 0)
    {
        mcuq_broadcast_rows(dims, input1, input2, output, badd8_row, params);
    }
    return MCUQ_OK;
}
