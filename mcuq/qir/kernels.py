"""What each int8 IR op's C kernel is: one `KernelSpec` row per `QOp`, the single place the planner,
the code generator, the diagnosis and the tests ask.

A row names the C entry point per output dtype (``int8``: the s8 kernel; ``int16``: the 16x8 kernel,
or for REQUANTIZE the direction), the runtime_c source that defines it (the code generator copies
that file and its siblings), the scratch bytes the kernel needs (a Python mirror of its C
``*_get_buffer_size``; the kernel tests check they agree) and the more it can use for a faster path,
how the planner may place the output (over an input, or as a slice of a Concat's output), and
whether the op adds rounding error of its own.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from mcuq.ir.ops import CONV_WEIGHTS, DENSE_WEIGHTS, DEPTHWISE_WEIGHTS, TRANSPOSE_CONV_WEIGHTS, WeightAxes
from mcuq.qir.model import Layer, QOp, QTensor

ScratchSize = Callable[[Layer, dict[str, QTensor]], int]


class InPlace(enum.Enum):
    """Whether the planner may write a layer's output over an input (int8 layers only)."""

    NEVER = "never"  # the output is written while the input is still read (FC, concat, transpose, pad)
    ELEMENTWISE = "elementwise"  # element i is written after element i of every input was read
    WINDOWED = "windowed"  # a sliding window: over the input, shifted back by the window's reach


class SliceWrite(enum.Enum):
    """Whether a layer can write its output straight into its slice of a Concat's output."""

    NONE = "none"
    CONTIGUOUS = "contiguous"  # one block: the kernel has an output pointer of its own
    CHANNELS = "channels"  # also a channel range of each pixel: the kernel takes an output pixel stride


@dataclass(frozen=True)
class CKernel:
    function: str  # the entry point, e.g. mcuq_convolve_s8
    source: str  # the file under runtime_c/src that defines it
    scratch: ScratchSize | None = None  # bytes it needs (its *_get_buffer_size); None: none
    roomy_scratch: ScratchSize | None = None  # bytes with which it takes a faster path; None: none
    calls: tuple[str, ...] = ()  # other kernels' entry points it runs (the generated C defines them first)


@dataclass(frozen=True)
class KernelSpec:
    op: QOp
    kernels: dict[str, CKernel]  # by output dtype; no entry: the op has no kernel in that dtype
    inplace: InPlace = InPlace.NEVER
    slice_write: SliceWrite = SliceWrite.NONE
    adds_error: bool = True  # False: output = a selection or exact copy of input values, never blamed
    weights: WeightAxes | None = None


# --------------------------------------------------------------------------------------------------
# scratch sizes: Python mirrors of the C kernels' *_get_buffer_size and *_get_roomy_buffer_size
# --------------------------------------------------------------------------------------------------


def conv_column_scratch(k: int) -> int:
    """mcuq_convolve_s8_get_buffer_size for K = KH*KW*C_in of one group: one receptive field as int16."""
    return 2 * k


def conv_wide_scratch(k: int) -> int:
    """mcuq_convolve_s8's DSP path widens its columns to int16 once per pixel pair with 6 K bytes
    (MCUQ_CONV_S8_WIDE_SCRATCH), K a multiple of 4; 0 otherwise."""
    return 6 * k if k % 4 == 0 else 0


SMALLK_MAX_K = 64  # MCUQ_CONV_S8_SMALLK_MAX_K
SMALLK_FILTER_BYTES = 1024  # MCUQ_CONV_S8_SMALLK_FILTER_BYTES


def conv_smallk_need(k: int, out_c: int) -> int:
    """MCUQ_CONV_S8_SMALLK_SCRATCH: the DSP path's small-K body (K <= 64) widens the filter once per call
    (rows zero-padded to kp = K rounded up to 4, channels to an even count) beside two widened and two
    int8 columns; it runs wherever the scratch holds this much."""
    kp, out_c_even = -(-k // 4) * 4, -(-out_c // 2) * 2
    return 2 * kp * (out_c_even + 3)


def conv_smallk_scratch(k: int, out_c: int) -> int:
    """The small-K body's scratch where the code generator grants it: K <= 64 and the widened filter
    within its budget; 0 otherwise."""
    if k > SMALLK_MAX_K or 2 * (-(-k // 4) * 4) * (-(-out_c // 2) * 2) > SMALLK_FILTER_BYTES:
        return 0
    return conv_smallk_need(k, out_c)


def conv_roomy_scratch(k: int, out_c: int) -> int:
    """mcuq_convolve_s8_get_roomy_buffer_size (one group): the widened columns, or the small-K body's
    scratch where that is more."""
    return max(conv_wide_scratch(k), conv_smallk_scratch(k, out_c))


def conv_s8_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_convolve_s8: one output pixel's receptive field for one group, as int16."""
    _, kh, kw, cg = np.shape(layer.params.weights)
    return conv_column_scratch(kh * kw * cg)


def conv_s8_roomy_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_convolve_s8's widened columns (one group), or its small-K body's where that is more."""
    out_c, kh, kw, cg = np.shape(layer.params.weights)
    if layer.params.groups != 1:
        return 0
    return conv_roomy_scratch(kh * kw * cg, out_c)


def _dw_planes(layer: Layer, tensors: dict[str, QTensor]) -> tuple[int, int]:
    """mcuq_depthwise_conv_s8's fast paths: (bytes of one padded channel plane, planes they can use:
    4 when the channels come in fours and a plane is at most 1 KiB, else 1; 0 when none applies)."""
    _, kh, kw, c_out = np.shape(layer.params.weights)
    _, h, w, c_in = tensors[layer.inputs[0]].shape
    if not (kh == kw == 3 and c_out == c_in):
        return 0, 0
    plane = max(h + 2, 32) * (w + 2)  # columns at least 32 bytes apart (the MVE path's layout)
    return plane, 4 if c_in % 4 == 0 and plane <= 1024 else 1


def depthwise_s8_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_depthwise_conv_s8, 3x3 with ch_mult 1: one padded channel plane, 4 bytes of slack."""
    plane, planes = _dw_planes(layer, tensors)
    return (plane + 4 + 3) // 4 * 4 if planes else 0


def depthwise_s8_roomy_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_depthwise_conv_s8 copies four channels at a time into four planes."""
    plane, planes = _dw_planes(layer, tensors)
    return (planes * plane + 4 + 3) // 4 * 4 if planes else 0


def transpose_conv_largest_phase(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """K = taps_h * taps_w * C_in of a transposed convolution's largest stride phase, phase (0, 0)
    (ceil(KH / stride_h) x ceil(KW / stride_w) taps), whose sub-kernel the C kernel's filter_dims give."""
    p = layer.params
    _, kh, kw, c_in = np.shape(p.weights)
    return -(-kh // p.stride[0]) * -(-kw // p.stride[1]) * c_in


def transpose_conv_s8_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_transpose_conv_s8: mcuq_convolve_s8's scratch for the largest phase sub-kernel."""
    return conv_column_scratch(transpose_conv_largest_phase(layer, tensors))


def transpose_conv_s8_roomy_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_convolve_s8's DSP path for the largest phase (6 K, K a multiple of 4); smaller phases take
    it where their own 6 K fits."""
    return conv_wide_scratch(transpose_conv_largest_phase(layer, tensors))


def fc_rows(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """The rows a fully connected layer runs over: its input's leading axes, x[..., K]."""
    return tensors[layer.inputs[0]].size // np.shape(layer.params.weights)[1]


def fc_runs_as_conv(layer: Layer, tensors: dict[str, QTensor]) -> bool:
    """Whether an int8 fully connected layer runs as mcuq_convolve_s8 with a 1x1 filter (rows as pixels):
    over two rows or more, whose fast paths share each weight load between two rows (DSP) or hold the
    row in registers (MVE). The numerics are the same (folded bias, per-channel requantization, output
    offset, clamp; no padding, so the input offset only enters through the bias)."""
    return fc_rows(layer, tensors) >= 2


def fc_s8_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_fully_connected_s8 needs none; over several rows, mcuq_convolve_s8's for a 1x1 filter."""
    k = np.shape(layer.params.weights)[1]
    return conv_column_scratch(k) if fc_runs_as_conv(layer, tensors) else 0


def fc_s8_roomy_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """Over several rows, mcuq_convolve_s8's roomy scratch for a 1x1 filter."""
    out_c, k = np.shape(layer.params.weights)
    return conv_roomy_scratch(k, out_c) if fc_runs_as_conv(layer, tensors) else 0


def lstm_s8_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_lstm_s8: the cell state and two gate buffers, int16 [hidden] each."""
    return 3 * 2 * tensors[layer.output].shape[-1]


def gru_s8_scratch(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """mcuq_gru_s8: the state and three gate buffers, int16 [hidden] each."""
    return 4 * 2 * tensors[layer.output].shape[-1]


# --------------------------------------------------------------------------------------------------
# the table
# --------------------------------------------------------------------------------------------------


def _kernel(name: str, family: str, **sizes) -> CKernel:
    return CKernel(name, f"{family}/{name}.c", **sizes)


_ROWS = (
    KernelSpec(QOp.CONV, {
        "int8": _kernel("mcuq_convolve_s8", "convolution", scratch=conv_s8_scratch,
                        roomy_scratch=conv_s8_roomy_scratch),
        "int16": _kernel("mcuq_convolve_s16", "convolution")},
        InPlace.WINDOWED, SliceWrite.CHANNELS, weights=CONV_WEIGHTS),
    KernelSpec(QOp.DEPTHWISE_CONV, {
        "int8": _kernel("mcuq_depthwise_conv_s8", "convolution", scratch=depthwise_s8_scratch,
                        roomy_scratch=depthwise_s8_roomy_scratch),
        "int16": _kernel("mcuq_depthwise_conv_s16", "convolution")},
        InPlace.WINDOWED, SliceWrite.CHANNELS, weights=DEPTHWISE_WEIGHTS),
    KernelSpec(QOp.FULLY_CONNECTED, {
        "int8": _kernel("mcuq_fully_connected_s8", "fully_connected", scratch=fc_s8_scratch,
                        roomy_scratch=fc_s8_roomy_scratch),
        "int16": _kernel("mcuq_fully_connected_s16", "fully_connected")},
        InPlace.NEVER, SliceWrite.CONTIGUOUS, weights=DENSE_WEIGHTS),
    KernelSpec(QOp.ADD, {
        "int8": _kernel("mcuq_elementwise_add_s8", "basic_math"),
        "int16": _kernel("mcuq_elementwise_add_s16", "basic_math")},
        InPlace.ELEMENTWISE, SliceWrite.CHANNELS),
    KernelSpec(QOp.MUL, {"int8": _kernel("mcuq_elementwise_mul_s8", "basic_math")},
               InPlace.ELEMENTWISE, SliceWrite.CHANNELS),
    KernelSpec(QOp.MAX_POOL, {
        "int8": _kernel("mcuq_max_pool_s8", "pooling"), "int16": _kernel("mcuq_max_pool_s16", "pooling")},
        InPlace.WINDOWED, SliceWrite.CHANNELS, adds_error=False),
    KernelSpec(QOp.AVG_POOL, {
        "int8": _kernel("mcuq_avg_pool_s8", "pooling"), "int16": _kernel("mcuq_avg_pool_s16", "pooling")},
        InPlace.WINDOWED, SliceWrite.CHANNELS),
    KernelSpec(QOp.LUT, {"int8": _kernel("mcuq_lut_s8", "activations")}, InPlace.ELEMENTWISE, SliceWrite.CHANNELS),
    KernelSpec(QOp.SOFTMAX, {"int8": _kernel("mcuq_softmax_s8", "softmax")}, InPlace.ELEMENTWISE,
               SliceWrite.CONTIGUOUS),
    KernelSpec(QOp.CONCAT, {"int8": _kernel("mcuq_concat_s8", "data_movement")}),
    KernelSpec(QOp.TRANSPOSE, {"int8": _kernel("mcuq_transpose_s8", "data_movement")},
               slice_write=SliceWrite.CONTIGUOUS, adds_error=False),
    KernelSpec(QOp.PAD, {"int8": _kernel("mcuq_pad_s8", "data_movement")},
               slice_write=SliceWrite.CONTIGUOUS, adds_error=False),
    KernelSpec(QOp.COPY, {}, InPlace.ELEMENTWISE, adds_error=False),  # memmove, or nothing when in place
    KernelSpec(QOp.REQUANTIZE, {  # by output dtype: the direction of the precision boundary
        "int16": _kernel("mcuq_requantize_s8_s16", "quantization"),
        "int8": _kernel("mcuq_requantize_s16_s8", "quantization")}, adds_error=False),
    KernelSpec(QOp.PRELU, {"int8": _kernel("mcuq_prelu_s8", "activations")}, InPlace.ELEMENTWISE,
               SliceWrite.CHANNELS),
    # In place only over an operand of the output's size (`plan.inplace`); the broadcast one is reread.
    KernelSpec(QOp.BROADCAST_ADD, {"int8": _kernel("mcuq_broadcast_add_s8", "basic_math")}, InPlace.ELEMENTWISE),
    KernelSpec(QOp.BROADCAST_MUL, {"int8": _kernel("mcuq_broadcast_mul_s8", "basic_math")}, InPlace.ELEMENTWISE),
    KernelSpec(QOp.RESIZE_NEAREST, {"int8": _kernel("mcuq_resize_nearest_s8", "resize")}, adds_error=False),
    KernelSpec(QOp.RESIZE_BILINEAR, {"int8": _kernel("mcuq_resize_bilinear_s8", "resize")}),
    KernelSpec(QOp.TRANSPOSE_CONV, {
        "int8": _kernel("mcuq_transpose_conv_s8", "convolution", scratch=transpose_conv_s8_scratch,
                        roomy_scratch=transpose_conv_s8_roomy_scratch, calls=("mcuq_convolve_s8",))},
        weights=TRANSPOSE_CONV_WEIGHTS),
    KernelSpec(QOp.SLICE, {"int8": _kernel("mcuq_slice_s8", "data_movement")},
               slice_write=SliceWrite.CHANNELS, adds_error=False),
    KernelSpec(QOp.GATHER_CHANNELS, {"int8": _kernel("mcuq_gather_channels_s8", "data_movement")},
               slice_write=SliceWrite.CHANNELS, adds_error=False),
    KernelSpec(QOp.BATCH_MATMUL, {"int8": _kernel("mcuq_batch_matmul_s8", "fully_connected")},
               slice_write=SliceWrite.CONTIGUOUS),
    # Each row is read whole (its statistics) before any of its outputs is written: in place is safe.
    KernelSpec(QOp.LAYER_NORM, {"int8": _kernel("mcuq_layer_norm_s8", "normalization")}, InPlace.ELEMENTWISE,
               SliceWrite.CONTIGUOUS),
    KernelSpec(QOp.LSTM, {"int8": _kernel("mcuq_lstm_s8", "recurrent", scratch=lstm_s8_scratch)},
               slice_write=SliceWrite.CONTIGUOUS),
    # The GRU runs the LSTM's gate support (mcuq_lstm_s8_support.c), which comes with mcuq_lstm_s8.
    KernelSpec(QOp.GRU, {"int8": _kernel("mcuq_gru_s8", "recurrent", scratch=gru_s8_scratch,
                                         calls=("mcuq_lstm_s8",))}, slice_write=SliceWrite.CONTIGUOUS),
)

KERNELS: dict[QOp, KernelSpec] = {row.op: row for row in _ROWS}
assert set(KERNELS) == set(QOp), "every QOp has a KernelSpec row"


def kernel_spec(op: QOp) -> KernelSpec:
    return KERNELS[op]


def c_kernel(layer: Layer, tensors: dict[str, QTensor]) -> CKernel | None:
    """The C kernel a layer calls, by op and output dtype (None: a copy, or no such kernel)."""
    return KERNELS[layer.op].kernels.get(tensors[layer.output].dtype)


def has_int16_form(op: QOp) -> bool:
    """Whether an op has a 16x8 kernel (REQUANTIZE's int16 entry is a conversion, not a form)."""
    return op is not QOp.REQUANTIZE and "int16" in KERNELS[op].kernels


def all_c_kernels() -> list[CKernel]:
    return [kernel for row in _ROWS for kernel in row.kernels.values()]


def scratch_bytes(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """Scratch buffer bytes of a layer's C kernel, as its ``*_get_buffer_size`` returns."""
    kernel = c_kernel(layer, tensors)
    return kernel.scratch(layer, tensors) if kernel and kernel.scratch else 0


def roomy_scratch_bytes(layer: Layer, tensors: dict[str, QTensor]) -> int:
    """Scratch bytes with which a layer's C kernel takes a faster path, where more than it needs
    (`*_get_roomy_buffer_size`); the planner gives them where the arena stays as small. 0 if none."""
    kernel = c_kernel(layer, tensors)
    return kernel.roomy_scratch(layer, tensors) if kernel and kernel.roomy_scratch else 0
