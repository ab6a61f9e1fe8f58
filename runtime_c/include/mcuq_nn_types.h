/*
 * mcuq integer runtime: types shared by all kernels (CMSIS-NN style).
 *
 * Layouts: activations NHWC ([N, H, W, C], int8), conv weights OHWI ([C_out, KH, KW, C_in/groups]),
 * depthwise weights [1, KH, KW, C_out], fully connected weights [O, K].
 * Quantization: TFLite int8. An input offset is -zero_point, an output offset +zero_point.
 * multiplier/shift are TFLite QuantizeMultiplier results (Q31; shift > 0 is a left shift) applied as
 * CMSIS-NN's default (double rounding) arm_nn_requantize. act_min/act_max clamp the int8 output.
 * All buffers are owned by the caller; kernels keep no state between calls.
 *
 * int16 (16x8) kernels, *_s16: TFLite's 16x8 scheme as CMSIS-NN's s16 kernels: int16 activations
 * ([N, H, W, C], symmetric, zero point 0, so every offset in their params must be 0), int8 weights in
 * the same layouts, an int64 bias (|bias + sum| < 2^47), per-channel shifts in [-31, 7] applied by
 * mcuq_requantize_s64, activation clamps within int16. They take the same params structs as int8.
 *
 * Every kernel returns MCUQ_OK, or MCUQ_ARG_ERROR when its arguments are inconsistent.
 *
 * The code generator copies this header and the kernels a model uses into one .c file; it defines
 * MCUQ_API as `static` first so that several models can link into one firmware.
 */
#ifndef MCUQ_NN_TYPES_H
#define MCUQ_NN_TYPES_H

#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define MCUQ_MAYBE_UNUSED __attribute__((unused))
#else
#define MCUQ_MAYBE_UNUSED
#endif

#ifndef MCUQ_API
#define MCUQ_API
#endif

typedef enum { MCUQ_OK = 0, MCUQ_ARG_ERROR = -1 } mcuq_status;

typedef struct {
    int32_t n, h, w, c;
} mcuq_dims;

typedef struct {
    int32_t h, w;
} mcuq_tile;

typedef struct {
    int32_t top, left, bottom, right;
} mcuq_padding;

typedef struct {
    int32_t min, max;
} mcuq_activation;

/* Scratch memory handed to a kernel by the caller; size in bytes. */
typedef struct {
    void *buf;
    int32_t size;
} mcuq_context;

/* Per-output-channel requantization. */
typedef struct {
    const int32_t *multiplier;
    const int32_t *shift;
} mcuq_per_channel_quant;

typedef struct {
    int32_t multiplier;
    int32_t shift;
} mcuq_per_tensor_quant;

typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    mcuq_tile stride;
    mcuq_tile dilation;
    mcuq_padding padding;
    mcuq_activation activation;
    int32_t groups;
    /* Elements between the starts of consecutive output pixels: output_dims->c for a dense output;
     * more when the output is a channel slice of a wider tensor (a concatenation's), which the
     * kernel then writes in place, leaving the other channels alone. */
    int32_t output_pixel_stride;
} mcuq_conv_params;

typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    int32_t ch_mult;
    mcuq_tile stride;
    mcuq_tile dilation;
    mcuq_padding padding;
    mcuq_activation activation;
    /* Elements between the starts of consecutive output pixels: output_dims->c for a dense output;
     * more when the output is a channel slice of a wider tensor (a concatenation's), which the
     * kernel then writes in place, leaving the other channels alone. */
    int32_t output_pixel_stride;
} mcuq_dw_conv_params;

typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    mcuq_activation activation;
} mcuq_fc_params;

/* The extent of a fully connected layer: input [batches, input_depth], filter [output_depth,
 * input_depth] (one row of K = input_depth weights per output), output [batches, output_depth].
 * (CMSIS-NN passes the same in three cmsis_nn_dims: input n = batches, filter n = K, c = output depth.) */
typedef struct {
    int32_t batches;
    int32_t input_depth;
    int32_t output_depth;
} mcuq_fc_dims;

/* The extent of an elementwise kernel (add, mul, table): `rows` rows of `row_size` elements. The
 * inputs are dense; output row r starts at output + r * output_row_stride, so output_row_stride ==
 * row_size is a dense output, and a larger one writes a channel slice of a wider tensor (rows are
 * pixels, row_size their channels, output_row_stride the wider tensor's channels). */
typedef struct {
    int32_t rows;
    int32_t row_size;
    int32_t output_row_stride;
} mcuq_elementwise_dims;

typedef struct {
    int32_t input1_offset;
    mcuq_per_tensor_quant input1_quant;
    int32_t input2_offset;
    mcuq_per_tensor_quant input2_quant;
    int32_t left_shift;
    int32_t output_offset;
    mcuq_per_tensor_quant output_quant;
    mcuq_activation activation;
    /* Optional (NULL: none): twice the rescaled sum's part that does not depend on the exact input (the
     * one with multiplier 2^30 and shift 0; input 1 if both are), by the other input's byte (uint8_t) k:
     * 2 * (requantize((x + offset) << left_shift, multiplier, shift) + exact offset * 2^(left_shift - 1)),
     * x = (int8_t)k (numerics/fixedpoint.py add_rescale_table). The int8 elementwise Add reads it. */
    const int32_t *rescale_table;
} mcuq_add_params;

typedef struct {
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    mcuq_per_tensor_quant output_quant;
    mcuq_activation activation;
} mcuq_mul_params;

/* PReLU: v = in + input_offset; out = (v >= 0 ? requantize(v, positive_quant) : requantize(v,
 * negative multiplier and shift of the element's channel)) + output_offset, saturated to int8. */
typedef struct {
    int32_t input_offset;  /* -zero_point of the input, in [-255, 255] */
    int32_t output_offset;
    mcuq_per_tensor_quant positive_quant; /* s_in / s_out */
} mcuq_prelu_params;

typedef struct {
    mcuq_tile kernel;
    mcuq_tile stride;
    mcuq_padding padding;
    mcuq_activation activation;
    int32_t count_include_pad; /* average pool only: divide by KH*KW, padding counts as pad_value */
    int32_t pad_value;         /* the input zero point */
    /* Elements between the starts of consecutive output pixels: output_dims->c for a dense output;
     * more when the output is a channel slice of a wider tensor (a concatenation's), which the
     * kernel then writes in place, leaving the other channels alone. */
    int32_t output_pixel_stride;
} mcuq_pool_params;

/* Softmax with arm_softmax_s8's numerics. exp_table[k] (256 entries, k = row maximum - x) is the
 * fixed-point exp(-k * input scale) in Q0.31 that arm_softmax_s8 computes per element, 0 where -k is
 * below its diff_min; the compiler computes it (numerics/fixedpoint.py softmax_exp_table). */
typedef struct {
    const int32_t *exp_table;
} mcuq_softmax_params;

/* A precision boundary between an int8 and an int16 tensor (TFLite's Requantize):
 * out = clamp(requantize(in + input_offset, quant) + output_offset) to the output type's range. */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    mcuq_per_tensor_quant quant;
} mcuq_requantize_params;

/* Concatenation seen as [outer, axis, inner]: each input is copied (and requantized) into its slice. */
typedef struct {
    int32_t outer;        /* product of the output dims before the axis */
    int32_t inner;        /* product of the output dims after the axis */
    int32_t axis_offset;  /* where this input starts along the axis of the output */
    int32_t axis_size;    /* this input's extent along the axis */
    int32_t out_axis_size;
    int32_t input_offset;
    mcuq_per_tensor_quant quant; /* multiplier 0 means a plain copy */
    int32_t output_offset;
} mcuq_concat_params;

/* Up to 4-D; unused leading dims are 1. */
typedef struct {
    int32_t dims[4];
    int32_t perm[4];
} mcuq_transpose_params;

typedef struct {
    int32_t dims[4];     /* input dims, up to 4-D, leading dims 1 */
    int32_t before[4];
    int32_t after[4];
    int32_t pad_value;
} mcuq_pad_params;

/* The extents of a broadcasting elementwise kernel (add, mul): the output's [N,H,W,C] and each
 * operand's, whose every dim is the output's or 1 (the operand's values repeat along it: a
 * squeeze-excitation gate [N,1,1,C], a per-pixel map [N,H,W,1]). Operands and output are dense. */
typedef struct {
    mcuq_dims output;
    mcuq_dims input1;
    mcuq_dims input2;
} mcuq_broadcast_dims;
/* Resize over H and W of [N, H, W, C]; the tables have one entry per output row (column).
 * Nearest: rows[i] is the input row output row i copies (cols likewise).
 * Bilinear: rows[3 i .. 3 i + 2] = (lower row, upper row, weight of the upper row in 1/1024). */
typedef struct {
    const int32_t *rows;
    const int32_t *cols;
} mcuq_resize_params;

/* Transposed convolution as stride phases: row_phases holds stride.h entries of 4 int32 (first output
 * row, number of output rows, input row of the first output's first tap (negative: padding), taps),
 * col_phases stride.w / col_group entries along W. Column phases that share their window (kernel a
 * multiple of the stride) are stacked: one entry computes col_group adjacent output pixels as
 * col_group * C_out channels. Phase (r, c) has the sub-kernel [col_group * C_out, taps_r, taps_c, C_in],
 * stored phase after phase in the filter, and as many folded biases, phase after phase; the quant
 * arrays then hold col_group * C_out channels (C_out's repeated). */
typedef struct {
    int32_t input_offset;
    int32_t output_offset;
    mcuq_tile stride;
    mcuq_activation activation;
    const int32_t *row_phases;
    const int32_t *col_phases;
    int32_t col_group;
} mcuq_transpose_conv_params;

/* A box of an up-to-4-D tensor (unused leading dims 1): output element [i0,i1,i2,i3] is input element
 * [begin[0] + i0*step[0], ..., begin[3] + i3*step[3]]; steps >= 1, the box lies inside the input. */
typedef struct {
    int32_t input_dims[4];
    int32_t output_dims[4];
    int32_t begin[4];
    int32_t step[4];
    int32_t output_pixel_stride; /* elements between output rows (last dim): > output_dims[3] writes a
                                    channel slice of a Concat's output */
} mcuq_slice_params;

/* Per pixel (last-axis row), output channel c = input channel indices[c] (a channel shuffle, or a
 * Gather of a list of channels). */
typedef struct {
    int32_t pixels;
    int32_t input_channels;
    int32_t output_channels;
    int32_t output_pixel_stride; /* elements between output pixels, >= output_channels */
} mcuq_gather_channels_params;

/* MatMul of two activations (CMSIS-NN's arm_batch_matmul_s8): lhs [batches, lhs_rows, depth], rhs given
 * transposed, [batches, rhs_rows, depth], output [batches, lhs_rows, rhs_rows]. */
typedef struct {
    int32_t batches;
    int32_t lhs_rows;
    int32_t rhs_rows;
    int32_t depth; /* at most 16384 */
} mcuq_batch_matmul_dims;

/* out = clamp(requantize(sum_k (lhs + lhs_offset) * (rhs + rhs_offset), quant) + output_offset). */
typedef struct {
    int32_t lhs_offset; /* -zero_point, in [-128, 128] */
    int32_t rhs_offset;
    int32_t output_offset;
    mcuq_per_tensor_quant quant; /* s_lhs * s_rhs / s_out: multiplier >= 0, shift in [-31, 30] */
    mcuq_activation activation;
} mcuq_batch_matmul_params;

/* LayerNormalization over `rows` rows of `row_size` features (mcuq.qir.LayerNormParams):
 * v = in + input_offset; d = C v - sum v; var = C sum v^2 - (sum v)^2 + epsilon, shifted by an even e
 * into [2^30, 2^32); n = round(d * round(2^31 / isqrt(var 2^e)) / 2^(15 - e/2)) (Q16);
 * z = requantize(n, quant[c]) + bias[c];
 * out = clamp(((z + 128) >> 8) + output_offset) to int8. */
typedef struct {
    int32_t input_offset; /* -zero_point, in [-128, 128] */
    int32_t output_offset;
    int64_t epsilon; /* >= 1: ONNX epsilon * C^2 / s_in^2, rounded */
    int32_t rows;
    int32_t row_size; /* C, in [1, 32767] */
} mcuq_layer_norm_params;

/* ---- Recurrent layers (mcuq_lstm_s8, mcuq_gru_s8) ----
 * The G gates of one direction, stacked (LSTM i, o, f, c; GRU z, r, h: ONNX's order): gate g's rows are
 * g * hidden_size .. g * hidden_size + hidden_size - 1 of each matrix and bias. A gate's pre-activation
 * is requantize(input_bias + input_weights . x) + requantize(hidden_bias + hidden_weights . h), each
 * into int16 Q3.12 (scale 2^-12) with one multiplier per gate and matrix, the sum saturated to int16.
 * The biases have the input's (hidden state's) offset folded in: bias + offset * sum of the row. */
typedef struct {
    const int8_t *input_weights;      /* [G * hidden_size, input_size] */
    const int32_t *input_bias;        /* [G * hidden_size] */
    const int8_t *hidden_weights;     /* [G * hidden_size, hidden_size] */
    const int32_t *hidden_bias;       /* [G * hidden_size] */
    const int32_t *input_multiplier;  /* [G] */
    const int32_t *input_shift;       /* [G] */
    const int32_t *hidden_multiplier; /* [G] */
    const int32_t *hidden_shift;      /* [G] */
} mcuq_rnn_gates;

typedef struct {
    int32_t time_steps;
    int32_t input_size;
    int32_t hidden_size;
    int32_t reverse; /* 0: t = 0 .. T-1; 1: t = T-1 .. 0 (ONNX direction "reverse") */
    int32_t output_offset;
    mcuq_per_tensor_quant output_quant; /* LSTM: o * tanh(c) (Q0.30); GRU: the state (Q0.15) -> output */
} mcuq_rnn_params;

/* The LSTM's cell state: int16 at scale 2^cell_scale_power. */
typedef struct {
    mcuq_per_tensor_quant forget_to_cell; /* f (Q0.15) * c -> c */
    mcuq_per_tensor_quant input_to_cell;  /* i (Q0.15) * g (Q0.15) -> c */
    int32_t cell_scale_power;
} mcuq_lstm_cell_params;

/* One time step of a recurrent kernel: input x, hidden input h, output out (its layer: the kernel's own). */
typedef void (*mcuq_rnn_step_fn)(const void *layer, const int8_t *x, const int8_t *h, int8_t *out);

#endif /* MCUQ_NN_TYPES_H */
