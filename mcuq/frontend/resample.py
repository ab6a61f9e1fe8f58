"""Where Resize reads from: for each output row (column) of an ONNX Resize over H and W, the input
row(s) and weight it takes, following the ONNX operator's coordinate transformations in float32 as
ONNX Runtime computes them. The frontend stores these tables on the IR node, so the float executor,
the lowering (which turns bilinear weights into 10-bit fixed point) and the C kernels all read the
same source positions."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

#: coordinate_transformation_mode -> the original coordinate of output index x (float32, as ORT):
#: ``scale`` is output/input length (or the given scale), ``n_in``/``n_out`` the lengths.
COORDINATE_TRANSFORMS = {
    "half_pixel": lambda x, scale, n_in, n_out: (x + np.float32(0.5)) / scale - np.float32(0.5),
    "pytorch_half_pixel": lambda x, scale, n_in, n_out: (
        (x + np.float32(0.5)) / scale - np.float32(0.5) if n_out > 1 else np.zeros_like(x)),
    "align_corners": lambda x, scale, n_in, n_out: (
        x * np.float32(n_in - 1) / np.float32(n_out - 1) if n_out > 1 else np.zeros_like(x)),
    "asymmetric": lambda x, scale, n_in, n_out: x / scale,
}

#: nearest_mode -> the input index of an original coordinate (before clamping to the input).
NEAREST_ROUNDING = {
    "round_prefer_floor": lambda c: np.where(c - np.floor(c) > 0.5, np.ceil(c), np.floor(c)),
    "round_prefer_ceil": lambda c: np.where(c - np.floor(c) >= 0.5, np.ceil(c), np.floor(c)),
    "floor": np.floor,
    "ceil": np.ceil,
}



def original_coordinates(transform: str, scale: float, n_in: int, n_out: int) -> np.ndarray:
    """float32 original coordinate of every output index along one axis."""
    x = np.arange(n_out, dtype=np.float32)
    return COORDINATE_TRANSFORMS[transform](x, np.float32(scale), n_in, n_out).astype(np.float32)


def nearest_sources(transform: str, nearest_mode: str, scale: float, n_in: int, n_out: int) -> tuple[int, ...]:
    """The input index each output index copies."""
    coords = original_coordinates(transform, scale, n_in, n_out)
    index = NEAREST_ROUNDING[nearest_mode](coords)
    return tuple(int(i) for i in np.clip(index, 0, n_in - 1))


def linear_sources(transform: str, scale: float, n_in: int, n_out: int) -> tuple[tuple[int, int, float], ...]:
    """(lower input index, upper input index, weight of the upper one) of each output index, the
    coordinate clamped to the input as ONNX Runtime's bilinear upsampling does."""
    coords = np.clip(original_coordinates(transform, scale, n_in, n_out), np.float32(0), np.float32(n_in - 1))
    lower = np.minimum(np.floor(coords).astype(np.int64), n_in - 1)
    upper = np.minimum(lower + 1, n_in - 1)
    frac = (coords - lower.astype(np.float32)).astype(np.float32)
    return tuple((int(lo), int(hi), float(f)) for lo, hi, f in zip(lower, upper, frac))


def pin_legacy_resize_semantics(source: onnx.ModelProto, converted: onnx.ModelProto) -> None:
    """Upsample (opsets 7-9) and Resize-10 sample at x / scale and take the floor of it when enlarging
    (ONNX Runtime's "simple" nearest mode: the ceiling when shrinking); the version converter drops that
    meaning (its Resize gets the opset-11 defaults, half_pixel). Pin it on the converted nodes, in place."""
    if not any(o.domain in ("", "ai.onnx") and o.version < 11 for o in source.opset_import):
        return
    initializers = {t.name: t for t in source.graph.initializer}
    legacy = {}
    for node in source.graph.node:
        if node.op_type in ("Upsample", "Resize") and node.output:
            scales = initializers.get(node.input[1]) if len(node.input) > 1 else None
            shrinks = scales is not None and float(numpy_helper.to_array(scales).min()) < 1.0
            legacy[node.output[0]] = "ceil" if shrinks else "floor"
    for node in converted.graph.node:
        if node.op_type == "Resize" and node.output and node.output[0] in legacy:
            kept = [a for a in node.attribute if a.name not in ("coordinate_transformation_mode", "nearest_mode")]
            del node.attribute[:]
            node.attribute.extend(kept + [helper.make_attribute("coordinate_transformation_mode", "asymmetric"),
                                          helper.make_attribute("nearest_mode", legacy[node.output[0]])])
