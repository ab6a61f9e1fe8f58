"""The integer golden model: a numpy executor of the int8 IR, bit-exact with ``runtime_c``.

Every op follows CMSIS-NN's default (double rounding) path as TFLite Micro calls it; the C kernels
in ``runtime_c/src`` must produce the same bytes for every input. Intermediates are int64 and the
int32 arithmetic of the C code is reproduced explicitly where it matters (wrap-around of the
requantize left shift, truncating division). Inputs the C kernels reject (inconsistent shapes,
an accumulator that would overflow int32, an empty pooling window) raise ``ValueError`` here.

`s8` holds the int8 op functions, `recurrent` LSTM and GRU, `s16` the int16 ones (which build on s8's
accumulators); this module picks one per layer by (op, output dtype) and runs models.
"""

from __future__ import annotations

import numpy as np

from mcuq import qir
from mcuq.golden import recurrent, s8, s16
from mcuq.golden.s8 import SOFTMAX_MAX_ROW, as_shape  # noqa: F401 - SOFTMAX_MAX_ROW is part of the API

__all__ = ["SOFTMAX_MAX_ROW", "run_layer", "run_model"]
# --------------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------------


# The numpy function of each (op, output dtype). A REQUANTIZE layer converts int8 <-> int16 either way.
FUNCTIONS = ({(op, "int8"): fn for op, fn in s8.OPS.items()} | {(op, "int16"): fn for op, fn in s16.OPS.items()}
             | {(qir.QOp.REQUANTIZE, "int8"): s16.OPS[qir.QOp.REQUANTIZE]}
             | {(op, "int8"): fn for op, fn in recurrent.OPS.items()})


def _op(layer: qir.Layer, tensors: dict[str, qir.QTensor]):
    dtype = tensors[layer.output].dtype
    if (layer.op, dtype) not in FUNCTIONS:
        raise ValueError(f"{layer.name}: no {dtype} form of {layer.op.value}")
    return FUNCTIONS[layer.op, dtype]


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
