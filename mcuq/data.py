"""Calibration and verification data: read it, check it against the model, bring it to the IR layout.

Accepted: a ``.npy`` file (one array of N samples), a ``.npz`` file (one array, or the array named
after the model input, or ``x``), an ndarray, or any iterable of per-sample arrays. Each sample is in
the model's own ONNX input layout without the batch dimension, e.g. ``(3, 32, 32)`` for a
``[1, 3, 32, 32]`` input; a leading batch dimension of 1 per sample is accepted too.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import CalibrationError
from .ir import Graph

NPZ_PREFERRED_KEYS = ("x", "x_calib", "calib", "inputs", "data")


def load_samples(source, input_name: str, what: str = "calibration data") -> np.ndarray:
    """Read ``source`` into one float array of samples (N, ...) without checking shapes yet."""
    if isinstance(source, np.ndarray):
        return source
    if isinstance(source, (str, Path)):
        return _load_file(Path(source), input_name, what)
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


def _load_file(path: Path, input_name: str, what: str) -> np.ndarray:
    if not path.exists():
        raise CalibrationError(f"{what}: file {str(path)!r} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CalibrationError(
            f"{what}: {str(path)!r} is not a readable .npy/.npz file ({exc}); save it with numpy.save"
        ) from None
    if isinstance(loaded, np.ndarray):
        return loaded
    with loaded:
        keys = list(loaded.keys())
        for key in (input_name, *NPZ_PREFERRED_KEYS):
            if key in keys:
                return loaded[key]
        if len(keys) == 1:
            return loaded[keys[0]]
    raise CalibrationError(
        f"{what}: {str(path)!r} holds arrays {keys}; name the input array {input_name!r} or 'x', "
        "or save only one array"
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
    samples = samples.astype(np.float32)
    bad = ~np.isfinite(samples)
    if bad.any():
        first = int(np.argmax(bad.reshape(len(samples), -1).any(axis=1)))
        raise CalibrationError(
            f"{what}: {int(bad.sum())} values are NaN or Inf (first in sample {first}); clean the data"
        )
    batched = samples.reshape(len(samples), *onnx_input_shape[1:])
    perm = graph.input_perms.get(input_name)
    if perm is not None:
        batched = batched.transpose(perm)
    return np.ascontiguousarray(batched)


def to_onnx_layout(samples_ir: np.ndarray, graph: Graph) -> np.ndarray:
    """Inverse of the input permutation: IR-layout samples back to the ONNX layout."""
    perm = graph.input_perms.get(graph.inputs[0])
    if perm is None:
        return samples_ir
    return samples_ir.transpose(np.argsort(perm))
