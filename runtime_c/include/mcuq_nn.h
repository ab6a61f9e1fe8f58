/*
 * mcuq integer runtime: the kernel API. Types and conventions: mcuq_nn_types.h.
 *
 * The code generator does not copy this file: it copies mcuq_nn_types.h, mcuq_nn_support.h and the
 * definitions of the kernels a model uses, so no prototype is left without a body.
 *
 * In-place execution: every kernel writes its output front to back (batch, row, pixel, channel), and
 * the kernels marked "in place" below may have their output overlap their input, provided the output
 * starts far enough before the input that no write reaches an input byte still to be read. The
 * largest allowed start, relative to the input, is computed by mcuq/plan/inplace.py from the loop
 * order documented here (e.g. -(W + 1) * C for a 3x3 stride-1 "same" convolution with C channels in
 * and out); the kernel tests run each kernel at exactly that overlap, on the host and under QEMU.
 * The faster paths (DSP, MVE; see mcuq_nn_simd.h) read no later and write no earlier than the portable
 * order, or check the overlap they are given and take the portable loop where theirs would not be
 * safe (depthwise: its channel-plane paths need an output a whole number of pixels before the input).
 *
 * Scratch: *_get_buffer_size is the least a kernel needs; *_get_roomy_buffer_size, where there is one,
 * the scratch of a faster path that the kernel takes when it gets that much. The code generator gives
 * a layer the roomy size only where the arena does not grow (mcuq/plan/arena.py with_roomy_scratch).
 *
 * Channel slices: convolution, depthwise convolution, pooling and the elementwise kernels can write
 * their output as one channel slice of a wider NHWC tensor (output_pixel_stride in their params, or
 * output_row_stride in mcuq_elementwise_dims, larger than their own channel count; output pointing
 * at the slice's first channel). The code generator uses it to let the producers of a concatenation
 * write straight into it (mcuq/plan/concat.py); such a layer never runs in place.
 */
#ifndef MCUQ_NN_H
#define MCUQ_NN_H

#include "mcuq_nn_types.h"

/* ---- Convolution and fully connected ----
 * Folded bias: the int8 convolution, depthwise and fully connected kernels take
 *   bias[oc] + input_offset * (sum of output channel oc's weights)
 * (mcuq.codegen.folded_bias), not the model's bias, so that their inner loops multiply raw int8
 * inputs; padded positions hold the input zero point, -input_offset, whose products the folded
 * term cancels. input_offset must lie in [-127, 128] (a zero point in [-128, 127]).
 *
 * In place: each output pixel's window is copied into the scratch buffer (for one group at a time)
 * before that pixel's output channels of the group are written. Depthwise: output channel oc of a
 * pixel is written right after the window of its input channel is read. */
MCUQ_API int32_t mcuq_convolve_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims);
/* More scratch, with which a faster path runs where it applies (the generator gives it where it is free). */
MCUQ_API int32_t mcuq_convolve_s8_get_roomy_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims);
MCUQ_API mcuq_status mcuq_convolve_s8(const mcuq_context *ctx,
                                      const mcuq_conv_params *params,
                                      const mcuq_per_channel_quant *quant,
                                      const mcuq_dims *input_dims,
                                      const int8_t *input,
                                      const mcuq_dims *filter_dims,
                                      const int8_t *filter,
                                      const int32_t *bias,
                                      const mcuq_dims *output_dims,
                                      int8_t *output);

MCUQ_API int32_t mcuq_depthwise_conv_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims);
/* More scratch, with which a faster path runs where it applies (the generator gives it where it is free). */
MCUQ_API int32_t mcuq_depthwise_conv_s8_get_roomy_buffer_size(const mcuq_dims *input_dims,
                                                              const mcuq_dims *filter_dims);
MCUQ_API mcuq_status mcuq_depthwise_conv_s8(const mcuq_context *ctx,
                                            const mcuq_dw_conv_params *params,
                                            const mcuq_per_channel_quant *quant,
                                            const mcuq_dims *input_dims,
                                            const int8_t *input,
                                            const mcuq_dims *filter_dims,
                                            const int8_t *filter,
                                            const int32_t *bias,
                                            const mcuq_dims *output_dims,
                                            int8_t *output);

/* dims: see mcuq_fc_dims (input [batches, K], filter [O, K], output [batches, O]). */
MCUQ_API mcuq_status mcuq_fully_connected_s8(const mcuq_fc_params *params,
                                             const mcuq_per_channel_quant *quant,
                                             const mcuq_fc_dims *dims,
                                             const int8_t *input,
                                             const int8_t *filter,
                                             const int32_t *bias,
                                             int8_t *output);

/* ---- Elementwise over dims->rows rows of dims->row_size elements (dense inputs; output rows
 * dims->output_row_stride apart). In place with a dense output (output == input1 or input2, or
 * starting before them) ---- */
MCUQ_API mcuq_status mcuq_elementwise_add_s8(const mcuq_add_params *params,
                                             const mcuq_elementwise_dims *dims,
                                             const int8_t *input1,
                                             const int8_t *input2,
                                             int8_t *output);

MCUQ_API mcuq_status mcuq_elementwise_mul_s8(const mcuq_mul_params *params,
                                             const mcuq_elementwise_dims *dims,
                                             const int8_t *input1,
                                             const int8_t *input2,
                                             int8_t *output);

/* ---- Broadcasting add and mul: the arithmetic of mcuq_elementwise_add_s8 / _mul_s8 on operands whose
 * [N,H,W,C] dims are each the output's or 1 (dims). A Sub is an add with a negated input2 multiplier.
 * Dense output; in place only over an operand of the output's dims (never over a broadcast one). ---- */
MCUQ_API mcuq_status mcuq_broadcast_add_s8(const mcuq_add_params *params,
                                           const mcuq_broadcast_dims *dims,
                                           const int8_t *input1,
                                           const int8_t *input2,
                                           int8_t *output);

MCUQ_API mcuq_status mcuq_broadcast_mul_s8(const mcuq_mul_params *params,
                                           const mcuq_broadcast_dims *dims,
                                           const int8_t *input1,
                                           const int8_t *input2,
                                           int8_t *output);

/* out[i] = table[in[i] + 128], rows as above; in-place (a dense output == input) allowed. */
MCUQ_API mcuq_status mcuq_lut_s8(const int8_t *table,
                                 const mcuq_elementwise_dims *dims,
                                 const int8_t *input,
                                 int8_t *output);

/* PReLU with one slope per channel: rows are pixels of dims->row_size channels, element i of a row is
 * channel i and takes negative_quant->multiplier[i] / shift[i] (s_in * slope[i] / s_out, negative for a
 * negative slope) when in + input_offset < 0. Shifts in [-31, 30]. Channel-slice output and in-place
 * operation (a dense output == input) allowed. */
MCUQ_API mcuq_status mcuq_prelu_s8(const mcuq_prelu_params *params,
                                   const mcuq_per_channel_quant *negative_quant,
                                   const mcuq_elementwise_dims *dims,
                                   const int8_t *input,
                                   int8_t *output);

/* ---- Pooling: in place like depthwise convolution (channel c of a pixel after its window) ---- */
MCUQ_API mcuq_status mcuq_max_pool_s8(const mcuq_pool_params *params,
                                      const mcuq_dims *input_dims,
                                      const int8_t *input,
                                      const mcuq_dims *output_dims,
                                      int8_t *output);

MCUQ_API mcuq_status mcuq_avg_pool_s8(const mcuq_pool_params *params,
                                      const mcuq_dims *input_dims,
                                      const int8_t *input,
                                      const mcuq_dims *output_dims,
                                      int8_t *output);

/* ---- Softmax over rows of row_size elements; in place (each element written after its last read) ---- */
MCUQ_API mcuq_status mcuq_softmax_s8(const mcuq_softmax_params *params,
                                     const int8_t *input,
                                     int32_t num_rows,
                                     int32_t row_size,
                                     int8_t *output);

/* ---- Data movement ---- */
MCUQ_API mcuq_status mcuq_concat_s8(const mcuq_concat_params *params, const int8_t *input, int8_t *output);

MCUQ_API mcuq_status mcuq_transpose_s8(const mcuq_transpose_params *params, const int8_t *input, int8_t *output);

MCUQ_API mcuq_status mcuq_pad_s8(const mcuq_pad_params *params, const int8_t *input, int8_t *output);

/* ---- Resize over H and W (tables: mcuq_resize_params); not in place ----
 * Nearest copies whole pixels, and an output row whose source row repeats is one copy of the row
 * before. Bilinear: out = (sum of the 4 neighbours times their 10-bit weights, 2^20 in all) / 2^20,
 * rounded half away from zero (TFLite's int8 ResizeBilinear); quantization unchanged. */
MCUQ_API mcuq_status mcuq_resize_nearest_s8(const mcuq_resize_params *params,
                                            const mcuq_dims *input_dims,
                                            const int8_t *input,
                                            const mcuq_dims *output_dims,
                                            int8_t *output);

MCUQ_API mcuq_status mcuq_resize_bilinear_s8(const mcuq_resize_params *params,
                                             const mcuq_dims *input_dims,
                                             const int8_t *input,
                                             const mcuq_dims *output_dims,
                                             int8_t *output);

/* ---- Transposed convolution: mcuq_convolve_s8 per stride phase and output row (no zeros inserted);
 * filter and bias per phase (mcuq_transpose_conv_params); filter_dims the largest phase's sub-kernel,
 * phase (0, 0)'s [C_out, ceil(KH / stride.h), ceil(KW / stride.w), C_in]. Scratch: mcuq_convolve_s8's
 * for that sub-kernel. Not in place. ---- */
MCUQ_API int32_t mcuq_transpose_conv_s8_get_buffer_size(const mcuq_dims *input_dims, const mcuq_dims *filter_dims);
MCUQ_API int32_t mcuq_transpose_conv_s8_get_roomy_buffer_size(const mcuq_dims *input_dims,
                                                              const mcuq_dims *filter_dims);
MCUQ_API mcuq_status mcuq_transpose_conv_s8(const mcuq_context *ctx,
                                            const mcuq_transpose_conv_params *params,
                                            const mcuq_per_channel_quant *quant,
                                            const mcuq_dims *input_dims,
                                            const int8_t *input,
                                            const mcuq_dims *filter_dims,
                                            const int8_t *filter,
                                            const int32_t *bias,
                                            const mcuq_dims *output_dims,
                                            int8_t *output);

/* Copies a box of the input, with steps (Slice, Split, Gather of one index or an evenly spaced list).
 * Input and output must not overlap (a slice that is one contiguous block is a view the planner
 * places inside its input: no call at all). Output rows (last dim) are written output_pixel_stride
 * elements apart, so that a producer of a Concat input can write its channel slice. */
MCUQ_API mcuq_status mcuq_slice_s8(const mcuq_slice_params *params, const int8_t *input, int8_t *output);

/* Per pixel of [pixels, input_channels]: output[p * output_pixel_stride + c] = input[p][indices[c]],
 * indices in [0, input_channels). Not in place. */
MCUQ_API mcuq_status mcuq_gather_channels_s8(const mcuq_gather_channels_params *params,
                                             const int32_t *indices,
                                             const int8_t *input,
                                             int8_t *output);

/* ---- int16 activations, int8 weights (16x8); see mcuq_nn_types.h ---- */
/* The int16 kernels need no scratch: direct loops over the clipped window, int64 accumulators. */
MCUQ_API mcuq_status mcuq_convolve_s16(const mcuq_conv_params *params,
                                       const mcuq_per_channel_quant *quant,
                                       const mcuq_dims *input_dims,
                                       const int16_t *input,
                                       const mcuq_dims *filter_dims,
                                       const int8_t *filter,
                                       const int64_t *bias,
                                       const mcuq_dims *output_dims,
                                       int16_t *output);

MCUQ_API mcuq_status mcuq_depthwise_conv_s16(const mcuq_dw_conv_params *params,
                                             const mcuq_per_channel_quant *quant,
                                             const mcuq_dims *input_dims,
                                             const int16_t *input,
                                             const mcuq_dims *filter_dims,
                                             const int8_t *filter,
                                             const int64_t *bias,
                                             const mcuq_dims *output_dims,
                                             int16_t *output);

/* Dims as mcuq_fully_connected_s8. */
MCUQ_API mcuq_status mcuq_fully_connected_s16(const mcuq_fc_params *params,
                                              const mcuq_per_channel_quant *quant,
                                              const mcuq_fc_dims *dims,
                                              const int16_t *input,
                                              const int8_t *filter,
                                              const int64_t *bias,
                                              int16_t *output);

/* left_shift must be 15 and the offsets 0. In-place allowed. */
MCUQ_API mcuq_status mcuq_elementwise_add_s16(const mcuq_add_params *params,
                                              const int16_t *input1,
                                              const int16_t *input2,
                                              int16_t *output,
                                              int32_t size);

MCUQ_API mcuq_status mcuq_max_pool_s16(const mcuq_pool_params *params,
                                       const mcuq_dims *input_dims,
                                       const int16_t *input,
                                       const mcuq_dims *output_dims,
                                       int16_t *output);

MCUQ_API mcuq_status mcuq_avg_pool_s16(const mcuq_pool_params *params,
                                       const mcuq_dims *input_dims,
                                       const int16_t *input,
                                       const mcuq_dims *output_dims,
                                       int16_t *output);

/* ---- Precision boundaries ---- */
MCUQ_API mcuq_status mcuq_requantize_s8_s16(const mcuq_requantize_params *params,
                                            const int8_t *input,
                                            int16_t *output,
                                            int32_t size);

MCUQ_API mcuq_status mcuq_requantize_s16_s8(const mcuq_requantize_params *params,
                                            const int16_t *input,
                                            int8_t *output,
                                            int32_t size);

/* ---- Attention ----
 * Batch matmul (arm_batch_matmul_s8): each output is the dot product of a row of lhs and a row of the
 * transposed rhs, so K of attention's Q K^T is read as it is stored ([.., T, d]). Not in place. */
MCUQ_API mcuq_status mcuq_batch_matmul_s8(const mcuq_batch_matmul_params *params,
                                          const mcuq_batch_matmul_dims *dims,
                                          const int8_t *lhs,
                                          const int8_t *rhs_transposed,
                                          int8_t *output);

/* Layer normalization over the last axis, gamma and beta folded into quant (per feature: gamma[c] / s_out
 * / 2^8) and bias (beta[c] / s_out * 2^8). In place: a row is read whole before it is written. */
MCUQ_API mcuq_status mcuq_layer_norm_s8(const mcuq_layer_norm_params *params,
                                        const mcuq_per_channel_quant *quant,
                                        const int32_t *bias,
                                        const int8_t *input,
                                        int8_t *output);

/* ---- Recurrent layers: one direction over input [T, input_size] (int8, the input's grid) -> output
 * [T, hidden_size] (int8: the hidden state after each step, in the output's grid; the next step reads
 * it back as its hidden input, with the output's zero point). Gates int16: Q3.12 before, Q0.15 after
 * sigmoid / tanh (arm_nn_activation_s16's table). Scratch: *_get_buffer_size(hidden_size) bytes of
 * int16 state and gate buffers, owned by the caller. Not in place. ---- */

/* CMSIS-NN's arm_lstm_unidirectional_s8: f, i, g, o gates; c = f * c + i * g (cell grid, saturated);
 * h = o * tanh(c) requantized into the output. hidden_init: int8 [hidden_size] in the output's grid;
 * cell_init: int16 [hidden_size] in the cell grid. */
MCUQ_API int32_t mcuq_lstm_s8_get_buffer_size(int32_t hidden_size);
MCUQ_API mcuq_status mcuq_lstm_s8(const mcuq_context *ctx,
                                  const mcuq_rnn_params *params,
                                  const mcuq_lstm_cell_params *cell,
                                  const mcuq_rnn_gates *gates,
                                  const int8_t *hidden_init,
                                  const int16_t *cell_init,
                                  const int8_t *input,
                                  int8_t *output);

/* GRU (linear_before_reset = 1, as PyTorch): z, r gates; n = tanh(x-part + r * h-part); the state s
 * (int16 Q0.15) becomes n + z * (s - n); the output is s requantized. hidden_init: int8 [hidden_size]
 * in the output's grid; state_init: int16 [hidden_size] Q0.15, the same initial state. */
MCUQ_API int32_t mcuq_gru_s8_get_buffer_size(int32_t hidden_size);
MCUQ_API mcuq_status mcuq_gru_s8(const mcuq_context *ctx,
                                 const mcuq_rnn_params *params,
                                 const mcuq_rnn_gates *gates,
                                 const int8_t *hidden_init,
                                 const int16_t *state_init,
                                 const int8_t *input,
                                 int8_t *output);

/* Support shared by the recurrent kernels (defined with mcuq_lstm_s8).
 * mcuq_rnn_product_s16: acc[j] = sat16(acc[j] + requantize(bias + W . v)) over the hidden_size rows of
 * gate `gate`, W and bias the input's (hidden == 0) or the hidden state's (hidden == 1).
 * mcuq_rnn_gate_s16: a whole gate, out = activation(0 + the input's product + the hidden state's product).
 * mcuq_rnn_activation_s16: arm_nn_activation_s16 (sigmoid != 0: sigmoid, else tanh), in place allowed.
 * mcuq_rnn_mul_s16: out = requantize(a * b) saturated to int16.
 * mcuq_rnn_args_ok: the dims are positive and the scratch holds scratch_bytes.
 * mcuq_rnn_unroll: step over time (backwards when reversed), each step's hidden input the previous
 * step's output, hidden_init first. */
MCUQ_API void mcuq_rnn_product_s16(const mcuq_rnn_params *params,
                                   const mcuq_rnn_gates *gates,
                                   int32_t gate,
                                   int32_t hidden,
                                   const int8_t *vector,
                                   int16_t *acc);
MCUQ_API void mcuq_rnn_gate_s16(const mcuq_rnn_params *params, const mcuq_rnn_gates *gates, int32_t gate,
                                const int8_t *x, const int8_t *h, int32_t sigmoid, int16_t *out);
MCUQ_API void mcuq_rnn_activation_s16(const int16_t *input, int16_t *output, int32_t size, int32_t left_shift,
                                      int32_t sigmoid);
MCUQ_API void mcuq_rnn_mul_s16(const int16_t *a, const int16_t *b, int16_t *output, int32_t size,
                               const mcuq_per_tensor_quant *quant);
MCUQ_API int mcuq_rnn_args_ok(const mcuq_context *ctx, const mcuq_rnn_params *params, int32_t scratch_bytes);
MCUQ_API void mcuq_rnn_unroll(const mcuq_rnn_params *params, mcuq_rnn_step_fn step, const void *layer,
                              const int8_t *hidden_init, const int8_t *input, int8_t *output);

#endif /* MCUQ_NN_H */
