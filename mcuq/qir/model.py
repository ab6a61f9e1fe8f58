"""The int8 IR: what the golden model executes and the C code generator emits, layer by layer.

Everything here is already "prepared" (TFLM's Prepare, done in Python): multipliers, shifts, offsets,
clamps and buffer sizes are plain numbers, so the golden model and the C kernels only "Eval".
Conventions follow CMSIS-NN: activations NHWC int8; ``*_offset`` of an input is ``-zero_point``, of an
output ``+zero_point``; ``multiplier``/``shift`` as TFLite's QuantizeMultiplier (Q31, shift > 0 means a
left shift); ``act_min``/``act_max`` are int8 clamps applied after the output offset.

Mixed precision (TFLite's 16x8 scheme, as CMSIS-NN's ``*_s16`` kernels): a tensor whose ``dtype`` is
``int16`` is symmetric (zero point 0, range [-32768, 32767]); the layer that produces it runs the s16
kernel of its op, with the same params types: int8 weights, an int64 bias, zero offsets, int16
clamps. Conversions between int8 and int16 tensors are explicit REQUANTIZE layers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np


class QOp(enum.Enum):
    CONV = "conv"  # mcuq_convolve_s8 (groups >= 1)
    DEPTHWISE_CONV = "depthwise_conv"  # mcuq_depthwise_conv_s8
    FULLY_CONNECTED = "fully_connected"  # mcuq_fully_connected_s8
    ADD = "add"  # mcuq_elementwise_add_s8
    MUL = "mul"  # mcuq_elementwise_mul_s8
    MAX_POOL = "max_pool"  # mcuq_max_pool_s8
    AVG_POOL = "avg_pool"  # mcuq_avg_pool_s8
    LUT = "lut"  # mcuq_lut_s8: any int8 -> int8 elementwise function (sigmoid, tanh, leaky relu, clip)
    SOFTMAX = "softmax"  # mcuq_softmax_s8
    CONCAT = "concat"  # mcuq_concat_s8, one call per input
    TRANSPOSE = "transpose"  # mcuq_transpose_s8
    PAD = "pad"  # mcuq_pad_s8
    COPY = "copy"  # memcpy (a reshape that cannot be an alias)
    REQUANTIZE = "requantize"  # mcuq_requantize_s8_s16 / mcuq_requantize_s16_s8: a precision boundary
    PRELU = "prelu"  # mcuq_prelu_s8: x >= 0 ? x : slope[c] * x, a negative-side multiplier per channel
    BROADCAST_ADD = "broadcast_add"  # mcuq_broadcast_add_s8: Add (or Sub) of operands that broadcast
    BROADCAST_MUL = "broadcast_mul"  # mcuq_broadcast_mul_s8: Mul of operands that broadcast
    RESIZE_NEAREST = "resize_nearest"  # mcuq_resize_nearest_s8: a gather of whole pixels
    RESIZE_BILINEAR = "resize_bilinear"  # mcuq_resize_bilinear_s8: 10-bit fixed-point weights (TFLite)
    TRANSPOSE_CONV = "transpose_conv"  # mcuq_transpose_conv_s8: stride phases run on mcuq_convolve_s8
    SLICE = "slice"  # mcuq_slice_s8, or no code where the box is one block of the input (a view)
    GATHER_CHANNELS = "gather_channels"  # mcuq_gather_channels_s8: per pixel, channels in another order
    BATCH_MATMUL = "batch_matmul"  # mcuq_batch_matmul_s8: MatMul of two activations (rhs transposed)
    LAYER_NORM = "layer_norm"  # mcuq_layer_norm_s8: integer statistics, per-feature requantization
    LSTM = "lstm"  # mcuq_lstm_s8: CMSIS-NN's arm_lstm_unidirectional_s8 (int16 gates and cell state)
    GRU = "gru"  # mcuq_gru_s8: the same scheme for a GRU (int16 gates and state)


#: Integer range of each activation dtype.
DTYPE_RANGE = {"int8": (-128, 127), "int16": (-32768, 32767)}
DTYPE_NUMPY = {"int8": np.int8, "int16": np.int16}


@dataclass(frozen=True)
class QTensor:
    name: str
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    dtype: str = "int8"  # "int8" or "int16" (symmetric, zero point 0)

    @property
    def size(self) -> int:
        """Elements."""
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * np.dtype(DTYPE_NUMPY[self.dtype]).itemsize

    def real_range(self) -> tuple[float, float]:
        """The real values of the grid's lowest and highest level."""
        q_min, q_max = DTYPE_RANGE[self.dtype]
        return (q_min - self.zero_point) * self.scale, (q_max - self.zero_point) * self.scale

    def holds(self, value: float) -> bool:
        """Whether the grid holds the real ``value`` to within half a step (rather than saturating it)."""
        lo, hi = self.real_range()
        return lo - 0.5 * self.scale <= value <= hi + 0.5 * self.scale


@dataclass(frozen=True)
class ConvParams:
    """Conv2D, NHWC input [1,H,W,C_in], OHWI weights [C_out,KH,KW,C_in/groups]."""

    weights: np.ndarray = field(compare=False)  # int8 [C_out, KH, KW, C_in/groups]
    bias: np.ndarray = field(compare=False)  # int32 [C_out]
    multiplier: np.ndarray = field(compare=False)  # int32 [C_out]
    shift: np.ndarray = field(compare=False)  # int32 [C_out]
    input_offset: int
    output_offset: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]  # top, left, bottom, right
    act_min: int
    act_max: int
    groups: int = 1


@dataclass(frozen=True)
class DepthwiseConvParams:
    """Depthwise conv, weights [1,KH,KW,C_in*ch_mult] (CMSIS-NN layout); output channel
    ``c_in*ch_mult + m`` reads input channel ``c_in``."""

    weights: np.ndarray = field(compare=False)  # int8 [1, KH, KW, C_out]
    bias: np.ndarray = field(compare=False)  # int32 [C_out]
    multiplier: np.ndarray = field(compare=False)
    shift: np.ndarray = field(compare=False)
    input_offset: int
    output_offset: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    padding: tuple[int, int, int, int]
    act_min: int
    act_max: int
    ch_mult: int = 1


@dataclass(frozen=True)
class FullyConnectedParams:
    """out[n, o] over input [N, K], weights [O, K]; per-output-channel requantization."""

    weights: np.ndarray = field(compare=False)  # int8 [O, K]
    bias: np.ndarray = field(compare=False)  # int32 [O]
    multiplier: np.ndarray = field(compare=False)  # int32 [O]
    shift: np.ndarray = field(compare=False)  # int32 [O]
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class AddParams:
    """TFLite int8 Add: both inputs rescaled to a common scale after a left shift of
    ``left_shift`` (20), summed, then requantized to the output."""

    input1_offset: int
    input1_multiplier: int
    input1_shift: int
    input2_offset: int
    input2_multiplier: int
    input2_shift: int
    left_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class MulParams:
    """TFLite int8 Mul: (a + input1_offset) * (b + input2_offset) requantized to the output."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class PoolParams:
    """Max or average pooling over [1,H,W,C]; quantization unchanged (scale and zero point of the
    output equal the input's). Average: the sum over the window's elements that lie inside the
    input, divided (rounded half away from zero) by that element count, or by KH*KW when
    ``count_include_pad`` (padded elements then count as the zero point, i.e. real 0.0)."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int, int, int]
    act_min: int
    act_max: int
    count_include_pad: bool = False
    pad_value: int = 0  # the input zero point: real 0.0 (used by count_include_pad)


@dataclass(frozen=True)
class LutParams:
    """out = table[in + 128]."""

    table: np.ndarray = field(compare=False)  # int8 [256]


@dataclass(frozen=True)
class SoftmaxParams:
    """CMSIS-NN arm_softmax_s8 over the last axis (rows of length ``shape[-1]``); output scale
    1/256, zero point -128. ``exp_table[k]``: the kernel's fixed-point exp of the difference -k to
    the row maximum (Q0.31; 0 below diff_min), from ``numerics.fixedpoint.softmax_exp_table``."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int
    exp_table: np.ndarray = field(compare=False)  # int32 [256]


@dataclass(frozen=True)
class ConcatParams:
    """Concatenate along ``axis`` of the output shape; each input i is requantized to the output
    with (multiplier[i], shift[i]) after adding input_offsets[i] (a plain copy when its scale and
    zero point equal the output's)."""

    axis: int
    input_offsets: tuple[int, ...]
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    output_offset: int


@dataclass(frozen=True)
class TransposeParams:
    perm: tuple[int, ...]


@dataclass(frozen=True)
class PadParams:
    pads: tuple[int, ...]  # begin_0..begin_{r-1}, end_0..end_{r-1}
    pad_value: int  # int8, the quantized constant


@dataclass(frozen=True)
class CopyParams:
    pass


@dataclass(frozen=True)
class RequantizeParams:
    """A precision boundary, as TFLite's Quantize op between int8 and int16 tensors (``Requantize``):
    out = clamp(requantize(in + input_offset, multiplier, shift) + output_offset) to the output
    dtype's range. ``multiplier``/``shift`` from QuantizeMultiplier(s_in / s_out)."""

    input_offset: int
    output_offset: int
    multiplier: int
    shift: int


def nhwc4(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    """A shape of rank <= 4 as [N,H,W,C], leading dims 1 (numpy's broadcasting aligns the last dims)."""
    if len(shape) > 4:
        raise ValueError(f"a tensor of rank {len(shape)}; the broadcasting kernels take rank 4 at most")
    return (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)


@dataclass(frozen=True)
class BroadcastParams:
    """Add or Mul of two int8 operands whose [N,H,W,C] shapes broadcast to the output's (each dim the
    output's or 1): SE gates [N,1,1,C], per-pixel maps [N,H,W,1], learned [1,H,W,C] offsets. The
    arithmetic is the elementwise op's (``arith``: `AddParams` or `MulParams`; Sub is an Add whose
    input 2 multiplier is negated). An operand is a layer input or, at ``constant_index``, the
    ``constant``: [N,H,W,C] int8 on a grid of its own (its offset is in ``arith``), stored in flash."""

    arith: AddParams | MulParams
    constant: np.ndarray | None = field(default=None, compare=False)
    constant_index: int = 1

    def operands(self, inputs: list) -> list:
        """The two operands in order: the layer's inputs with the constant (if any) in its place."""
        operands = list(inputs)
        if self.constant is not None:
            operands.insert(self.constant_index, self.constant)
        return operands

    def operand_dims(self, input_shapes: list[tuple[int, ...]]) -> list[tuple[int, int, int, int]]:
        """[N,H,W,C] of both operands, from the shapes of the layer's inputs."""
        return [nhwc4(np.shape(x)) for x in self.operands([np.empty(shape, np.int8) for shape in input_shapes])]


@dataclass(frozen=True)
class PreluParams:
    """PReLU over [..., C] (channels last): v = in + input_offset; out = clamp(requantize(v, positive)
    if v >= 0 else requantize(v, negative[c]), + output_offset) to int8. The negative multipliers carry
    the slope (s_in * slope[c] / s_out): a negative slope gives a negative multiplier."""

    input_offset: int
    output_offset: int
    positive_multiplier: int
    positive_shift: int
    negative_multiplier: np.ndarray = field(compare=False)  # int32 [C]
    negative_shift: np.ndarray = field(compare=False)  # int32 [C]


@dataclass(frozen=True)
class ResizeParams:
    """Resize over H and W, quantization unchanged. Nearest: ``rows[i]`` is the input row of output row
    i (``cols`` likewise). Bilinear: ``rows`` holds (lower row, upper row, weight of the upper in 1/1024)
    per output row, flattened; out = round half away from zero of the four products' sum / 2^20, as
    TFLite's int8 ResizeBilinear (whose 10-bit weights these are, for any ONNX coordinate transform)."""

    rows: tuple[int, ...]
    cols: tuple[int, ...]


@dataclass(frozen=True)
class TransposeConvParams:
    """ConvTranspose, NHWC input, OHWI weights [C_out, KH, KW, C_in] (not flipped): input pixel (i, j)
    tap (kh, kw) adds to output (i*stride_h + kh - padding[0], j*stride_w + kw - padding[1]); the output
    size is the output tensor's. Requantized per output channel as Conv."""

    weights: np.ndarray = field(compare=False)  # int8 [C_out, KH, KW, C_in]
    bias: np.ndarray = field(compare=False)  # int32 [C_out]
    multiplier: np.ndarray = field(compare=False)
    shift: np.ndarray = field(compare=False)
    input_offset: int
    output_offset: int
    stride: tuple[int, int]
    padding: tuple[int, int]  # top, left (the end pads and output_padding only set the output size)
    act_min: int
    act_max: int


@dataclass(frozen=True)
class SliceParams:
    """A box of the input: output index i along axis a reads input index begin[a] + i * step[a]."""

    begin: tuple[int, ...]
    step: tuple[int, ...]


def contiguous_block_offset(in_shape: tuple[int, ...], params: SliceParams, out_shape: tuple[int, ...]) -> int | None:
    """Where a slice's box starts in its input, in elements, when the box is one contiguous block of
    the input (a crop of rows, a channel range of a single pixel, a whole tensor): then the output is a
    view of the input's bytes. None otherwise (a channel range of many pixels, any step that skips)."""
    partial = [a for a in range(len(in_shape)) if out_shape[a] != in_shape[a]]
    if any(params.step[a] != 1 and out_shape[a] > 1 for a in range(len(in_shape))):
        return None
    last = partial[-1] if partial else 0
    if any(out_shape[a] != 1 for a in range(last)):
        return None
    strides = [int(np.prod(in_shape[a + 1:], dtype=np.int64)) for a in range(len(in_shape))]
    return sum(int(params.begin[a]) * strides[a] for a in range(len(in_shape)))


@dataclass(frozen=True)
class GatherChannelsParams:
    """Per pixel (last-axis row), output channel c is input channel indices[c]; the grid is the input's."""

    indices: tuple[int, ...]


@dataclass(frozen=True)
class BatchMatmulParams:
    """CMSIS-NN's arm_batch_matmul_s8: lhs [B, M, K], rhs given transposed [B, N, K] (B: the product of
    the leading dims), out[b, m, n] = clamp(requantize(sum_k (lhs[b, m, k] + lhs_offset) * (rhs[b, n, k]
    + rhs_offset), multiplier, shift) + output_offset), one multiplier for the tensor (s_lhs s_rhs / s_out)."""

    lhs_offset: int
    rhs_offset: int
    output_offset: int
    multiplier: int
    shift: int
    act_min: int
    act_max: int


@dataclass(frozen=True)
class LayerNormParams:
    """LayerNormalization over rows of C features, in integers (see `mcuq.golden.s8.layer_norm_rows`):
    v = x + input_offset; d = C v - sum(v); var = C sum(v^2) - sum(v)^2 + epsilon (int64), brought into
    [2^30, 2^32) by an even shift e; root = isqrt of that (16 bits); n = round(d * round(2^31 / root)
    / 2^(15 - e/2)) (the normalized value (v - mean) / std in Q16);
    out = clamp(floor((requantize(n, multiplier[c], shift[c]) + bias[c] + 128) / 256) + output_offset):
    multiplier[c] from gamma[c] / s_out / 2^8 and bias[c] = round(beta[c] / s_out * 2^8), so the result
    carries 8 more fractional bits until the one final rounding. ``epsilon`` is ONNX's epsilon in
    the units of (C v)^2: round(C^2 eps / s_in^2), at least 1 (s is never 0)."""

    input_offset: int
    output_offset: int
    epsilon: int
    multiplier: np.ndarray = field(compare=False)  # int32 [C]
    shift: np.ndarray = field(compare=False)  # int32 [C]
    bias: np.ndarray = field(compare=False)  # int32 [C]


@dataclass(frozen=True)
class RnnGates:
    """The gates of a recurrent layer (G of them: LSTM i, o, f, c; GRU z, r, h, ONNX's order), stacked:
    gate g's rows are g*H .. g*H + H - 1. Each gate's pre-activation is the sum of two matrix products,
    each requantized (one multiplier per gate and matrix, per-tensor weights as CMSIS-NN's LSTM) into
    int16 Q3.12 (scale 2^-12) and added with saturation."""

    input_weights: np.ndarray = field(compare=False)  # int8 [G*H, F]
    input_bias: np.ndarray = field(compare=False)  # int32 [G*H], at s_x * s_w_input[g]
    hidden_weights: np.ndarray = field(compare=False)  # int8 [G*H, H]
    hidden_bias: np.ndarray = field(compare=False)  # int32 [G*H], at s_h * s_w_hidden[g]
    input_multiplier: np.ndarray = field(compare=False)  # int32 [G]
    input_shift: np.ndarray = field(compare=False)  # int32 [G]
    hidden_multiplier: np.ndarray = field(compare=False)  # int32 [G]
    hidden_shift: np.ndarray = field(compare=False)  # int32 [G]
    input_offset: int  # -zero point of the input sequence
    hidden_offset: int  # -zero point of the hidden state (the output sequence's grid)


@dataclass(frozen=True)
class LstmParams:
    """One direction of an LSTM over input [1, T, F] -> output [1, T, H] (the hidden state of each step,
    int8 in the output's grid). Cell state int16 at scale 2^cell_scale_power; gates Q0.15."""

    gates: RnnGates
    reverse: bool
    output_offset: int
    output_multiplier: int  # o * tanh(c) (Q0.30) -> output grid
    output_shift: int
    forget_to_cell_multiplier: int  # f * c -> cell grid
    forget_to_cell_shift: int
    input_to_cell_multiplier: int  # i * g -> cell grid
    input_to_cell_shift: int
    cell_scale_power: int
    hidden_init: np.ndarray = field(compare=False)  # int8 [H] in the output's grid
    cell_init: np.ndarray = field(compare=False)  # int16 [H] in the cell grid


@dataclass(frozen=True)
class GruParams:
    """One direction of a GRU (linear_before_reset=1, as PyTorch) over input [1, T, F] -> output [1, T, H].
    The state is int16 Q0.15 between steps; the output (and the hidden input of the next step) is its
    int8 requantization."""

    gates: RnnGates
    reverse: bool
    output_offset: int
    output_multiplier: int  # state (Q0.15) -> output grid
    output_shift: int
    hidden_init: np.ndarray = field(compare=False)  # int8 [H] in the output's grid
    state_init: np.ndarray = field(compare=False)  # int16 [H], Q0.15


@dataclass(frozen=True)
class Layer:
    op: QOp
    name: str  # the float IR node it lowers (for comments and the report)
    inputs: tuple[str, ...]
    output: str
    params: object


@dataclass
class QModel:
    """Tensors by name (activations only: weights live in the params), layers in execution order."""

    name: str
    tensors: dict[str, QTensor]
    layers: list[Layer]
    inputs: list[str]
    outputs: list[str]
    input_perms: dict[str, tuple[int, ...]] = field(default_factory=dict)
    output_perms: dict[str, tuple[int, ...]] = field(default_factory=dict)
    #: Tensors that are another precision of a float IR tensor (precision boundaries) -> that tensor.
    float_names: dict[str, str] = field(default_factory=dict)

    def float_name(self, name: str) -> str:
        """The float IR tensor that ``name`` approximates."""
        return self.float_names.get(name, name)
