"""The integer golden model: a numpy executor of the int8 IR, bit-exact with ``runtime_c``.

Every op follows CMSIS-NN's default (double rounding) path as TFLite Micro calls it; the C kernels
in ``runtime_c/src`` must produce the same bytes for every input. Intermediates are int64 and the
int32 arithmetic of the C code is reproduced explicitly where it matters (wrap-around of the
requantize left shift, truncating division). Inputs the C kernels reject (inconsistent shapes,
an accumulator that would overflow int32, an empty pooling window) raise ``ValueError`` here.

`s8` holds the int8 op functions and `s16` the int16 ones (which build on s8's accumulators); this
module picks one per layer by (op, output dtype) and runs models. `scratch_bytes` mirrors the C
kernels' ``*_get_buffer_size``.
"""

from __future__ import annotations

import numpy as np

from mcuq import qir
from mcuq.golden import s8, s16
from mcuq.golden.s8 import SOFTMAX_MAX_ROW, as_shape  # noqa: F401 - SOFTMAX_MAX_ROW is part of the API

__all__ = ["SOFTMAX_MAX_ROW", "roomy_scratch_bytes", "run_layer", "run_model", "scratch_bytes"]
# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------


def _op(layer: qir.Layer, tensors: dict[str, qir.QTensor]):
    if tensors[layer.output].dtype == "int8" and layer.op is not qir.QOp.REQUANTIZE:
        return s8.OPS[layer.op]
    if layer.op not in s16.OPS:
        raise ValueError(f"{layer.name}: no int16 form of {layer.op.value}")
    return s16.OPS[layer.op]


def run_layer(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """Execute one layer; returns an array of ``tensors[layer.output].shape`` in its dtype."""
    out_t = tensors[layer.output]
    out = _op(layer, tensors)(layer, list(inputs), tensors)
    return np.asarray(out).astype(qir.DTYPE_NUMPY[out_t.dtype]).reshape(out_t.shape)


def run_model(model: qir.QModel, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Execute all layers in order. ``feeds``: int8 arrays in the IR layout (batch dim included).
    Returns every activation tensor (the inputs too) by name."""
    values: dict[str, np.ndarray] = {}
    for name in model.inputs:
        if name not in feeds:
            raise ValueError(f"no feed for model input {name!r}")
        x = np.asarray(feeds[name])
        want = qir.DTYPE_NUMPY[model.tensors[name].dtype]
        if x.dtype != want:
            raise ValueError(f"feed {name!r} is {x.dtype}, not {np.dtype(want).name}")
        values[name] = as_shape(x, model.tensors[name].shape, f"feed {name!r}")
    for layer in model.layers:
        values[layer.output] = run_layer(layer, [values[n] for n in layer.inputs], model.tensors)
    return values


def _dw_planes(layer: qir.Layer, tensors: dict[str, qir.QTensor]) -> tuple[int, int]:
    """mcuq_depthwise_conv_s8's fast paths: (bytes of one padded channel plane, planes they can use:
    4 when the channels come in fours and a plane is at most 1 KiB, else 1; 0 when none applies)."""
    _, kh, kw, c_out = np.shape(layer.params.weights)
    _, h, w, c_in = tensors[layer.inputs[0]].shape
    if not (kh == kw == 3 and c_out == c_in):
        return 0, 0
    plane = max(h + 2, 32) * (w + 2)  # columns at least 32 bytes apart (the MVE path's layout)
    return plane, 4 if c_in % 4 == 0 and plane <= 1024 else 1


def roomy_scratch_bytes(layer: qir.Layer, tensors: dict[str, qir.QTensor]) -> int:
    """Scratch bytes with which a layer's C kernel takes a faster path, where more than it needs
    (`*_get_roomy_buffer_size`); the planner gives them where the arena stays as small. 0 if none.
    mcuq_convolve_s8's DSP path widens its columns to int16 once per pixel pair with 6 K bytes, K =
    KH*KW*C_in a multiple of 4 (one group); mcuq_depthwise_conv_s8's copies four channels at a time
    into four planes."""
    if tensors[layer.output].dtype != "int8":
        return 0
    if layer.op is qir.QOp.CONV and layer.params.groups == 1:
        _, kh, kw, cg = np.shape(layer.params.weights)
        if (kh * kw * cg) % 4 == 0:
            return 6 * kh * kw * cg
    if layer.op is qir.QOp.DEPTHWISE_CONV:
        plane, planes = _dw_planes(layer, tensors)
        return (planes * plane + 4 + 3) // 4 * 4 if planes else 0
    return 0


def scratch_bytes(layer: qir.Layer, tensors: dict[str, qir.QTensor]) -> int:
    """Scratch buffer bytes of a layer's C kernel, as its ``*_get_buffer_size`` returns."""
    if layer.op is qir.QOp.CONV and tensors[layer.output].dtype == "int8":  # mcuq_convolve_s16 needs none
        # mcuq_convolve_s8: one output pixel's receptive field for one group, as int16.
        _, kh, kw, cg = np.shape(layer.params.weights)
        return 2 * kh * kw * cg
    if layer.op is qir.QOp.DEPTHWISE_CONV and tensors[layer.output].dtype == "int8":  # the s16 kernel needs none
        # mcuq_depthwise_conv_s8, 3x3 with ch_mult 1: one padded channel plane, 4 bytes of slack.
        plane, planes = _dw_planes(layer, tensors)
        return (plane + 4 + 3) // 4 * 4 if planes else 0
    return 0
