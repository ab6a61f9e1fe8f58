/*
 * mcuq_lstm_s8: one direction of an int8 LSTM, CMSIS-NN's arm_lstm_unidirectional_s8 (its step,
 * arm_nn_lstm_step_s8), for one batch. Per time step t (T-1 down to 0 when reversed), with h the
 * previous step's output (hidden_init first) and c the cell state (cell_init first):
 *   f = sigmoid(gate 2), c = sat16(requantize(f * c, forget_to_cell))
 *   i = sigmoid(gate 0), g = tanh(gate 3), c = clamp(c + requantize(i * g, input_to_cell), +-32767)
 *   o = sigmoid(gate 1), h = clamp(requantize(o * tanh(c * 2^(cell_scale_power + 12)), output) + offset)
 * each gate being mcuq_rnn_product_s16 of the input and of h into Q3.12 (mcuq_lstm_s8_support.c).
 * Scratch: the cell state and two gate buffers, int16 [hidden_size] each.
 */
#include "mcuq_nn_types.h"
#include "mcuq_nn_support.h"
#include "mcuq_nn.h"

enum { LSTM_INPUT_GATE = 0, LSTM_OUTPUT_GATE = 1, LSTM_FORGET_GATE = 2, LSTM_CELL_GATE = 3 };

MCUQ_API int32_t mcuq_lstm_s8_get_buffer_size(int32_t hidden_size) { return 3 * hidden_size * (int32_t)sizeof(int16_t); }

typedef struct {
    const mcuq_rnn_params *params;
    const mcuq_lstm_cell_params *cell;
    const mcuq_rnn_gates *gates;
    int16_t *cell_state;
    int16_t *gate_a;
    int16_t *gate_b;
} lstm_layer;

static void lstm_step(const void *layer, const int8_t *x, const int8_t *h, int8_t *out)
{
    const lstm_layer *l = (const lstm_layer *)layer;
    const mcuq_rnn_params *params = l->params;
    const int32_t n = params->hidden_size;
    int32_t j;
    mcuq_rnn_gate_s16(params, l->gates, LSTM_FORGET_GATE, x, h, 1, l->gate_a);
    mcuq_rnn_mul_s16(l->gate_a, l->cell_state, l->cell_state, n, &l->cell->forget_to_cell);
    mcuq_rnn_gate_s16(params, l->gates, LSTM_INPUT_GATE, x, h, 1, l->gate_a);
    mcuq_rnn_gate_s16(params, l->gates, LSTM_CELL_GATE, x, h, 0, l->gate_b);
    for (j = 0; j < n; j++)
    {
        const int32_t update = mcuq_requantize_fast((int32_t)l->gate_a[j] * l->gate_b[j],
                                               l->cell->input_to_cell.multiplier, l->cell->input_to_cell.shift);
        l->cell_state[j] = (int16_t)mcuq_clamp_s32(l->cell_state[j] + update, -32767, 32767);
    }
    mcuq_rnn_gate_s16(params, l->gates, LSTM_OUTPUT_GATE, x, h, 1, l->gate_a);
    mcuq_rnn_activation_s16(l->cell_state, l->gate_b, n, l->cell->cell_scale_power + 12, 0);
    for (j = 0; j < n; j++)
    {
        const int32_t hidden = mcuq_requantize_fast((int32_t)l->gate_a[j] * l->gate_b[j], params->output_quant.multiplier,
                                               params->output_quant.shift);
        out[j] = (int8_t)mcuq_clamp_s32(hidden + params->output_offset, -128, 127);
    }
}

MCUQ_API mcuq_status mcuq_lstm_s8(const mcuq_context *ctx, const mcuq_rnn_params *params, const mcuq_lstm_cell_params *cell,
                         const mcuq_rnn_gates *gates, const int8_t *hidden_init, const int16_t *cell_init,
                         const int8_t *input, int8_t *output)
{
    const int32_t n = params->hidden_size;
    lstm_layer layer;
    int32_t j;
    if (!mcuq_rnn_args_ok(ctx, params, mcuq_lstm_s8_get_buffer_size(n)))
    {
        return MCUQ_ARG_ERROR;
    }
    layer.params = params;
    layer.cell = cell;
    layer.gates = gates;
    layer.cell_state = (int16_t *)ctx->buf;
    layer.gate_a = layer.cell_state + n;
    layer.gate_b = layer.gate_a + n;
    for (j = 0; j < n; j++)
    {
        layer.cell_state[j] = cell_init[j];
    }
    mcuq_rnn_unroll(params, lstm_step, &layer, hidden_init, input, output);
    return MCUQ_OK;
}
