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

import dataclasses

import numpy as np

from mcuq import qir
from mcuq.golden import recurrent, s8, s16
from mcuq.golden.s8 import SOFTMAX_MAX_ROW, as_shape  # noqa: F401 - SOFTMAX_MAX_ROW is part of the API

__all__ = ["SOFTMAX_MAX_ROW", "batchable", "batched_tensors", "run_layer", "run_model", "run_samples", "run_stacked",
           "split_samples"]
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


def run_model(model: qir.QModel, feeds: dict[str, np.ndarray],
              tensors: dict[str, qir.QTensor] | None = None) -> dict[str, np.ndarray]:
    """Execute all layers in order. ``feeds``: int8 arrays in the IR layout (batch dim included).
    Returns every activation tensor (the inputs too) by name. ``tensors``: the model's tensors with
    another batch size (`batched_tensors`), to run several samples at once."""
    tensors = tensors or model.tensors
    values: dict[str, np.ndarray] = {}
    for name in model.inputs:
        if name not in feeds:
            raise ValueError(f"no feed for model input {name!r}")
        x = np.asarray(feeds[name])
        want = qir.DTYPE_NUMPY[tensors[name].dtype]
        if x.dtype != want:
            raise ValueError(f"feed {name!r} is {x.dtype}, not {np.dtype(want).name}")
        values[name] = as_shape(x, tensors[name].shape, f"feed {name!r}")
    for layer in model.layers:
        values[layer.output] = run_layer(layer, [values[n] for n in layer.inputs], tensors)
    return values


def batched_tensors(tensors: dict[str, qir.QTensor], n: int) -> dict[str, qir.QTensor]:
    """The same tensors with a batch of ``n`` (IR shapes have batch 1 first)."""
    return {name: dataclasses.replace(t, shape=(n,) + tuple(t.shape[1:])) for name, t in tensors.items()}


def batchable(model: qir.QModel) -> bool:
    """Whether every layer can run on a batch stacked on the first axis."""
    if any(not t.shape or t.shape[0] != 1 for t in model.tensors.values()):
        return False
    return all(layer.op is not qir.QOp.TRANSPOSE or layer.params.perm[0] == 0 for layer in model.layers)


def run_stacked(model: qir.QModel, name: str, x: np.ndarray) -> dict[str, np.ndarray] | None:
    """`run_model` on all N samples stacked on the first axis of ``x`` (fed to input ``name``) at once: every
    activation with the samples on its first axis; None where some layer cannot run on a batch."""
    if not batchable(model):
        return None
    return run_model(model, {name: x}, batched_tensors(model.tensors, len(x)))


def run_samples(model: qir.QModel, name: str, x: np.ndarray) -> list[dict[str, np.ndarray]]:
    """`run_model` on each of N samples stacked on the first axis of ``x`` (fed to input ``name``): every
    activation of each sample. All samples at once where every layer allows it (integer arithmetic: the
    same values as one at a time, see `run_stacked`), else one by one."""
    values = run_stacked(model, name, x)
    if values is None:
        return [run_model(model, {name: x[i : i + 1]}) for i in range(len(x))]
    return split_samples(values, len(x))


def split_samples(values: dict[str, np.ndarray], n: int) -> list[dict[str, np.ndarray]]:
    """`run_stacked`'s activations as one dictionary per sample (views, batch 1)."""
    return [{tensor: v[i : i + 1] for tensor, v in values.items()} for i in range(n)]
