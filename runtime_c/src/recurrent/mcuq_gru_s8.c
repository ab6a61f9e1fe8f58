/*
 * mcuq_gru_s8: one direction of an int8 GRU (linear_before_reset = 1, PyTorch's GRU), in the scheme of
 * mcuq_lstm_s8 (CMSIS-NN's LSTM): gates from mcuq_rnn_product_s16 into Q3.12, sigmoid / tanh into
 * Q0.15, the state int16 Q0.15. Per time step t (T-1 down to 0 when reversed), with h the previous
 * step's output (hidden_init first) and s the state (state_init first):
 *   z = sigmoid(gate 0), r = sigmoid(gate 1)
 *   n = tanh(sat16(x-part of gate 2 + requantize(r * h-part of gate 2, 2^-15)))
 *   s = sat16(n + requantize(z * (s - n), 2^-15)),  h = clamp(requantize(s, output) + offset)
 * Scratch: the state and three gate buffers, int16 [hidden_size] each.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn.h"

enum { GRU_UPDATE_GATE = 0, GRU_RESET_GATE = 1, GRU_CANDIDATE_GATE = 2 };

/* 2^-15: Q0.15 * Q0.15 -> Q0.15 and Q0.15 * Q3.12 -> Q3.12. */
static const mcuq_per_tensor_quant GRU_Q15_PRODUCT = {1 << 30, -14};

MCUQ_API int32_t mcuq_gru_s8_get_buffer_size(int32_t hidden_size) { return 4 * hidden_size * (int32_t)sizeof(int16_t); }

static void zeros_s16(int16_t *x, int32_t n)
{
    int32_t j;
    for (j = 0; j < n; j++)
    {
        x[j] = 0;
    }
}

typedef struct {
    const mcuq_rnn_params *params;
    const mcuq_rnn_gates *gates;
    int16_t *state;
    int16_t *update;
    int16_t *reset;
    int16_t *candidate;
} gru_layer;

static void gru_step(const void *layer, const int8_t *x, const int8_t *h, int8_t *out)
{
    const gru_layer *l = (const gru_layer *)layer;
    const mcuq_rnn_params *params = l->params;
    const int32_t n = params->hidden_size;
    int32_t j;
    mcuq_rnn_gate_s16(params, l->gates, GRU_UPDATE_GATE, x, h, 1, l->update);
    mcuq_rnn_gate_s16(params, l->gates, GRU_RESET_GATE, x, h, 1, l->reset);
    zeros_s16(l->candidate, n);
    mcuq_rnn_product_s16(params, l->gates, GRU_CANDIDATE_GATE, 1, h, l->candidate);
    mcuq_rnn_mul_s16(l->reset, l->candidate, l->candidate, n, &GRU_Q15_PRODUCT);
    zeros_s16(l->reset, n);
    mcuq_rnn_product_s16(params, l->gates, GRU_CANDIDATE_GATE, 0, x, l->reset);
    for (j = 0; j < n; j++)
    {
        l->candidate[j] = (int16_t)mcuq_clamp_s32((int32_t)l->reset[j] + l->candidate[j], -32768, 32767);
    }
    mcuq_rnn_activation_s16(l->candidate, l->candidate, n, 0, 0);
    for (j = 0; j < n; j++)
    {
        const int32_t cand = l->candidate[j];
        const int32_t kept = mcuq_requantize_fast((int32_t)l->update[j] * ((int32_t)l->state[j] - cand),
                                             GRU_Q15_PRODUCT.multiplier, GRU_Q15_PRODUCT.shift);
        const int32_t state = mcuq_clamp_s32(cand + kept, -32768, 32767);
        const int32_t hidden = mcuq_requantize_fast(state, params->output_quant.multiplier, params->output_quant.shift);
        l->state[j] = (int16_t)state;
        out[j] = (int8_t)mcuq_clamp_s32(hidden + params->output_offset, -128, 127);
    }
}

MCUQ_API mcuq_status mcuq_gru_s8(const mcuq_context *ctx, const mcuq_rnn_params *params, const mcuq_rnn_gates *gates,
                        const int8_t *hidden_init, const int16_t *state_init, const int8_t *input, int8_t *output)
{
    const int32_t n = params->hidden_size;
    gru_layer layer;
    int32_t j;
    if (!mcuq_rnn_args_ok(ctx, params, mcuq_gru_s8_get_buffer_size(n)))
    {
        return MCUQ_ARG_ERROR;
    }
    layer.params = params;
    layer.gates = gates;
    layer.state = (int16_t *)ctx->buf;
    layer.update = layer.state + n;
    layer.reset = layer.update + n;
    layer.candidate = layer.reset + n;
    for (j = 0; j < n; j++)
    {
        layer.state[j] = state_init[j];
    }
    mcuq_rnn_unroll(params, gru_step, &layer, hidden_init, input, output);
    return MCUQ_OK;
}
