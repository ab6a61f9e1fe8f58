"""The int16 half of the golden model: TFLite's 16x8 scheme as CMSIS-NN's ``*_s16`` kernels compute it,
bit-exact with ``runtime_c/src/*/mcuq_*_s16.c``, and the int8 <-> int16 precision boundaries.

- conv, depthwise conv, fully connected: int16 activations (zero point 0, offsets 0), int8 weights, an
  int64 bias; the accumulator is exact in int64 (CMSIS-NN sums the products in int32 and adds the
  int64 bias: the same value whenever its int32 sum does not overflow); requantization is
  ``arm_nn_requantize_s64`` with the Q31 multiplier reduced to Q15 (`fixedpoint.requantize_s64`).
- add: as ``arm_elementwise_add_s16``: the int8 maths with a left shift of 15 and no offsets.
- max and average pooling, reshape copies: the int8 functions of `golden.s8`, which are dtype-generic.
- requantize: TFLite's ``Requantize`` (the Quantize op between int8 and int16 tensors):
  clamp(requantize(in + input_offset) + output_offset) with the 32-bit `fixedpoint.requantize`.

Called through `golden.run_layer`, which picks these functions for layers with an int16 output and
for every requantize layer.
"""

from __future__ import annotations

import numpy as np

from mcuq import qir
from mcuq.golden import s8
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import DTYPE_RANGE, QOp


def _check_s16(layer: qir.Layer, acc: np.ndarray, shift) -> None:
    lo, hi = fp.S16_SHIFT_RANGE
    shift = np.asarray(shift)
    if shift.size and (shift.min() < lo or shift.max() > hi):
        raise ValueError(f"{layer.name}: int16 requantization shifts must lie in [{lo}, {hi}]")
    if acc.size and np.abs(acc).max() >= fp.S16_ACC_LIMIT:
        raise ValueError(f"{layer.name}: the int16 accumulator exceeds 2^47")


def _check_zero_offsets(layer: qir.Layer, *offsets: int) -> None:
    if any(offsets):
        raise ValueError(f"{layer.name}: int16 tensors are symmetric (offsets must be 0, got {offsets})")


def _requant_s16(layer: qir.Layer, acc: np.ndarray) -> np.ndarray:
    p = layer.params
    _check_zero_offsets(layer, p.input_offset, p.output_offset)
    _check_s16(layer, acc, p.shift)
    return np.clip(fp.requantize_s64(acc, p.multiplier, p.shift), p.act_min, p.act_max)


def conv(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    return _requant_s16(layer, s8.conv_accumulator(layer, inputs, tensors))


def depthwise_conv(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    return _requant_s16(layer, s8.depthwise_accumulator(layer, inputs, tensors))


def fully_connected(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    out = _requant_s16(layer, s8.fc_accumulator(layer, inputs, tensors))
    return out.reshape(tensors[layer.output].shape)


def add(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.AddParams = layer.params
    _check_zero_offsets(layer, p.input1_offset, p.input2_offset, p.output_offset)
    if p.left_shift != fp.ADD_LEFT_SHIFT_S16:
        raise ValueError(f"{layer.name}: int16 add takes a left shift of {fp.ADD_LEFT_SHIFT_S16}")
    a, b = s8.binary_inputs(layer, inputs, tensors)
    # |in| <= 2^15, so in << 15 stays within int32, as in arm_elementwise_add_s16.
    a = fp.requantize(a << p.left_shift, p.input1_multiplier, p.input1_shift)
    b = fp.requantize(b << p.left_shift, p.input2_multiplier, p.input2_shift)
    return np.clip(fp.requantize(a + b, p.output_multiplier, p.output_shift), p.act_min, p.act_max)


def requantize(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.RequantizeParams = layer.params
    src, dst = tensors[layer.inputs[0]], tensors[layer.output]
    if src.shape != dst.shape or src.dtype == dst.dtype:
        raise ValueError(f"{layer.name}: requantize {src.dtype}{list(src.shape)} -> {dst.dtype}{list(dst.shape)}")
    x = s8.as_shape(inputs[0], src.shape, layer.name).astype(np.int64)
    # What the C kernels accept: the left shift must keep (in + offset) within int32.
    max_offset, max_shift = (255, 23) if src.dtype == "int8" else (0, 15)
    if abs(p.input_offset) > max_offset or not -31 <= p.shift <= max_shift:
        raise ValueError(f"{layer.name}: requantize input offset {p.input_offset} or shift {p.shift} out of range")
    out = fp.requantize(x + p.input_offset, p.multiplier, p.shift) + p.output_offset
    return np.clip(out, *DTYPE_RANGE[dst.dtype])


def avg_pool(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    p: qir.PoolParams = layer.params
    if p.pad_value != 0 or p.kernel[0] * p.kernel[1] > 65536:
        raise ValueError(f"{layer.name}: int16 average pooling pads with 0 and sums at most 65,536 elements")
    return s8.avg_pool(layer, inputs, tensors)


OPS = {
    QOp.CONV: conv,
    QOp.DEPTHWISE_CONV: depthwise_conv,
    QOp.FULLY_CONNECTED: fully_connected,
    QOp.ADD: add,
    QOp.MAX_POOL: s8.max_pool,
    QOp.AVG_POOL: avg_pool,
    QOp.COPY: s8.copy,
    QOp.REQUANTIZE: requantize,
}
