"""Calibration and verification data: read it, check it against the model, bring it to the IR layout.

Accepted: a ``.npy`` file (one array of N samples), a ``.npz`` file (``FILE.npz:KEY`` picks an array;
without a key: the only array, or the one named after the model input, or ``x``), an ndarray, or any
iterable of per-sample arrays. Each sample is in
the model's own ONNX input layout without the batch dimension, e.g. ``(3, 32, 32)`` for a
``[1, 3, 32, 32]`` input; a leading batch dimension of 1 per sample is accepted too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mcuq.errors import CalibrationError, ShapeError
from mcuq.ir.graph import Graph

NPZ_PREFERRED_KEYS = ("x", "x_calib", "calib", "inputs", "data")

#: Verification samples drawn when a pre-quantized model is compiled without any data.
RANDOM_SAMPLES = 64


def load_samples(source, input_name: str, what: str = "calibration data") -> np.ndarray:
    """Read ``source`` into one float array of samples (N, ...) without checking shapes yet."""
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, (str, Path)):
        return _load_file(source, input_name, what)
    if isinstance(source, Iterable):
        samples = [np.asarray(s) for s in source]
        if not samples:
            raise CalibrationError(f"{what}: the iterable gave no samples; pass at least one array")
        shapes = {s.shape for s in samples}
        if len(shapes) != 1:
            raise CalibrationError(f"{what}: samples have different shapes {sorted(shapes)}; all must match")
        return np.stack(samples)
    raise CalibrationError(
        f"{what}: expected a .npy/.npz path, a numpy array or an iterable of arrays, got {type(source).__name__}"
    )


def split_key(source: str | Path) -> tuple[Path, str | None]:
    """`data.npz:x_test` -> (data.npz, "x_test"); a plain path -> (path, None)."""
    text = str(source)
    path, sep, key = text.rpartition(":")
    if sep and path.endswith(".npz") and key and "/" not in key:
        return Path(path), key
    return Path(text), None


def _read_array(path: Path, what: str, keys_wanted: tuple[str, ...], explicit_key: str | None) -> np.ndarray:
    if not os.path.isfile(path):  # False, not an OSError, for a name too long
        if os.path.isdir(path):
            raise CalibrationError(f"{what}: {str(path)!r} is a folder; give a .npy or .npz file")
        raise CalibrationError(f"{what}: file {str(path)!r} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise CalibrationError(
            f"{what}: {str(path)!r} is not a readable .npy/.npz file ({exc or 'empty'}); save it with numpy.save"
        ) from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        keys = list(loaded.keys())
        if explicit_key is not None:
            if explicit_key not in keys:
                raise CalibrationError(f"{what}: {str(path)!r} has no array {explicit_key!r}; it holds {keys}")
            return loaded[explicit_key]
        for key in keys_wanted:
            if key in keys:
                return loaded[key]
        if len(keys) == 1:
            return loaded[keys[0]]
    raise CalibrationError(
        f"{what}: {str(path)!r} holds arrays {keys}; pick one as {path}:NAME (e.g. {path}:{keys[0]})"
    )


def _load_file(source, input_name: str, what: str) -> np.ndarray:
    path, key = split_key(source)
    return _read_array(path, what, (input_name, *NPZ_PREFERRED_KEYS), key)


def load_labels(source) -> np.ndarray:
    """Integer class labels, one per verification sample: an array, or a .npy / .npz[:KEY] file."""
    if isinstance(source, (str, Path)):
        path, key = split_key(source)
        labels = _read_array(path, "labels", ("y", "labels", "y_test"), key)
    else:
        labels = np.asarray(source)
    if labels.dtype.kind not in "iu":
        raise CalibrationError(f"labels: dtype {labels.dtype} is not an integer class index")
    return labels.reshape(-1)


def check_one_sample_input(name: str, shape: tuple[int, ...], from_option: bool) -> None:
    """The generated C runs one sample per call: dimension 0 of the input (ONNX layout) is the batch
    and must be 1, so that calibration samples and C inputs are the model input without it."""
    if not shape:
        raise ShapeError(
            f"input {name!r} is a scalar (rank 0); mcuq needs a batch dimension first: re-export the model "
            f"with input shape [1] (or [1, N] for N features)"
        )
    if shape[0] != 1 and from_option:
        raise ShapeError(
            f"input {name!r}: --input-shape gives shape {list(shape)}, whose first dimension (the batch) is "
            f"{shape[0]}; the generated C runs one sample per call: pass --input-shape "
            f"{name}:{','.join(map(str, (1, *shape[1:])))}"
        )
    if shape[0] != 1:
        raise ShapeError(
            f"input {name!r}: the model declares shape {list(shape)}, whose first dimension (the batch) is "
            f"{shape[0]}; the generated C runs one sample per call, so the batch must be 1 (or dynamic): "
            f"re-export the model with input shape {[1, *shape]} if {shape[0]} is a feature size, or with "
            f"{[1, *shape[1:]]} if it is the batch"
        )


def prepare_samples(samples: np.ndarray, graph: Graph, onnx_input_shape: tuple[int, ...],
                    what: str = "calibration data") -> np.ndarray:
    """Check samples against the model input and return float32 in the IR layout, (N, *ir_shape[1:])."""
    input_name = graph.inputs[0]
    per_sample = tuple(onnx_input_shape[1:])
    samples = np.asarray(samples)
    if samples.dtype.kind not in "fiu":
        raise CalibrationError(f"{what}: dtype {samples.dtype} is not numeric; pass float32 samples")
    if samples.shape[1:] == (1, *per_sample):
        samples = samples.reshape(samples.shape[0], *per_sample)
    if samples.ndim == len(per_sample) and samples.shape == per_sample:
        samples = samples[None]
    if samples.shape[1:] != per_sample:
        raise CalibrationError(
            f"{what}: samples have shape {samples.shape[1:]} but input {input_name!r} takes "
            f"{per_sample} per sample (model input {list(onnx_input_shape)}); pass an array of shape "
            f"(N, {', '.join(map(str, per_sample))})"
        )
    if samples.shape[0] == 0:
        raise CalibrationError(f"{what}: no samples")
    if input_name in graph.io_quant:
        samples = dequantized_int8_samples(samples, graph.io_quant[input_name], input_name, what)
    with np.errstate(over="ignore"):  # values beyond float32's range become Inf, refused next
        samples = samples.astype(np.float32)
    bad = ~np.isfinite(samples)
    if bad.any():
        first = int(np.argmax(bad.reshape(len(samples), -1).any(axis=1)))
        raise CalibrationError(
            f"{what}: {int(bad.sum())} values are NaN or Inf, or beyond float32's ±3.4e38 (first in sample "
            f"{first}); clean the data"
        )
    batched = samples.reshape(len(samples), *onnx_input_shape[1:])
    perm = graph.input_perms.get(input_name)
    if perm is not None:
        batched = batched.transpose(perm)
    return np.ascontiguousarray(batched)


def dequantized_int8_samples(samples: np.ndarray, quant: tuple[float, int], input_name: str, what: str) -> np.ndarray:
    """Samples for an input the model file types as int8: int8 values in, their real values out
    (the IR computes on real values; quantizing them again gives back the very same int8)."""
    if samples.dtype.kind not in "iu" or samples.min() < -128 or samples.max() > 127:
        raise CalibrationError(
            f"{what}: input {input_name!r} of this pre-quantized model is int8 (scale {quant[0]:.6g}, zero point "
            f"{quant[1]}); pass int8 samples (got {samples.dtype}, values {samples.min()}..{samples.max()})"
        )
    scale, zero_point = quant
    return (samples.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)


def random_samples(graph: Graph, scale: float, zero_point: int, count: int = RANDOM_SAMPLES,
                   seed: int = 0) -> np.ndarray:
    """Random inputs on the input's int8 grid, as real values in the IR layout: verification data for a
    pre-quantized model compiled without any (exercises every int8 input value)."""
    shape = graph.tensors[graph.inputs[0]].shape
    q = np.random.default_rng(seed).integers(-128, 128, size=(count, *shape[1:]))
    return ((q - zero_point) * np.float32(scale)).astype(np.float32)


def to_onnx_layout(samples_ir: np.ndarray, graph: Graph) -> np.ndarray:
    """Inverse of the input permutation: IR-layout samples back to the ONNX layout."""
    perm = graph.input_perms.get(graph.inputs[0])
    if perm is None:
        return samples_ir
    return samples_ir.transpose(np.argsort(perm))


def onnx_input_shape(graph: Graph, name: str) -> tuple[int, ...]:
    """The input's shape in the ONNX layout (the IR may hold it channels-last)."""
    ir_shape = graph.tensors[name].shape
    perm = graph.input_perms.get(name)
    if perm is None:
        return tuple(ir_shape)
    shape = [0] * len(ir_shape)
    for i, p in enumerate(perm):
        shape[p] = ir_shape[i]
    return tuple(shape)


def output_to_onnx_layout(y: np.ndarray, graph: Graph, name: str) -> np.ndarray:
    """An output in the IR layout -> the ONNX layout."""
    perm = graph.output_perms.get(name)
    return y if perm is None else y.transpose(perm)
