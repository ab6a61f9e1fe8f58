"""Narrow networks for the firmware benchmark, built as ONNX from a description (no binary in the
repository): MLPerf Tiny's visual wake words network, MobileNetV1 x0.25 at 96x96, with random weights
(instruction counts do not depend on the weights' values).

The layers are those of the reference's "vww" model (../shared/reference/cmsisnn-v7-qemu.md): a 3x3
stride-2 conv 3->8, thirteen depthwise-separable blocks (depthwise 3x3 + ReLU6, pointwise 1x1 + ReLU6)
widening 8 -> 256 channels, a 3x3 average pool, a 256->2 fully connected layer and softmax; 7,489,664
MACs. Padding is TensorFlow's SAME, as in the TFLite model: stride-2 layers on even sizes pad one row
and column at the end only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# (depthwise stride, pointwise output channels) of MobileNetV1's thirteen blocks, at width 0.25.
VWW_BLOCKS = ((1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128), (1, 128), (1, 128), (1, 128),
              (1, 128), (1, 128), (2, 256), (1, 256))
VWW_SIZE = 96


def same_pads(stride: int, kernel: int = 3) -> list[int]:
    """ONNX pads (top, left, bottom, right) for TensorFlow SAME on an even input size."""
    total = max(kernel - stride, 0)
    return [total // 2, total // 2, total - total // 2, total - total // 2]


class _Builder:
    """Collects nodes and He-scaled random initializers, so that activations keep a sensible range."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []

    def constant(self, name: str, value: np.ndarray) -> str:
        self.weights.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def conv_relu6(self, x: str, name: str, c_in: int, c_out: int, stride: int, kernel: int, group: int) -> str:
        fan_in = c_in // group * kernel * kernel
        w = self.rng.normal(0, np.sqrt(2.0 / fan_in), (c_out, c_in // group, kernel, kernel))
        b = self.rng.normal(0, 0.1, c_out)
        pads = same_pads(stride, kernel) if kernel > 1 else [0, 0, 0, 0]
        self.nodes.append(helper.make_node(
            "Conv", [x, self.constant(f"{name}_w", w), self.constant(f"{name}_b", b)], [f"{name}_conv"],
            name=name, kernel_shape=[kernel, kernel], strides=[stride, stride], pads=pads, group=group))
        self.nodes.append(helper.make_node(
            "Clip", [f"{name}_conv", self.constant(f"{name}_lo", np.array(0.0)),
                     self.constant(f"{name}_hi", np.array(6.0))], [f"{name}_out"], name=f"{name}_relu6"))
        return f"{name}_out"


def vww_mobilenet_025(seed: int = 0) -> onnx.ModelProto:
    """MobileNetV1 x0.25 at 96x96x3 -> 2 classes (NCHW input, softmax output), random weights."""
    b = _Builder(seed)
    x = b.conv_relu6("input", "conv0", 3, 8, 2, 3, 1)
    channels = 8
    for i, (stride, c_out) in enumerate(VWW_BLOCKS, start=1):
        x = b.conv_relu6(x, f"dw{i}", channels, channels, stride, 3, channels)
        x = b.conv_relu6(x, f"pw{i}", channels, c_out, 1, 1, 1)
        channels = c_out
    fc_w = b.rng.normal(0, np.sqrt(1.0 / channels), (channels, 2))
    b.nodes += [
        helper.make_node("AveragePool", [x], ["pool"], name="pool", kernel_shape=[3, 3]),
        helper.make_node("Flatten", ["pool"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", b.constant("fc_w", fc_w), b.constant("fc_b", np.zeros(2))],
                         ["logits"], name="fc"),
        helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        b.nodes, "vww_mobilenet_025",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, VWW_SIZE, VWW_SIZE])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 2])], b.weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    return model


def smooth_images(n: int, seed: int) -> np.ndarray:
    """Calibration inputs: 12x12 random 0..1 pixels blown up to 96x96 (NCHW)."""
    coarse = np.random.default_rng(seed).uniform(0, 1, size=(n, 3, 12, 12)).astype(np.float32)
    return np.repeat(np.repeat(coarse, 8, 2), 8, 3)


def narrow_cases(folder: Path | None):
    """(name, ONNX path, calibration samples) for each narrow network, written into folder; with no
    folder, only the names (for listing them), with path and samples None."""
    if folder is None:
        yield "vww_mobilenet_025", None, None
        return
    path = folder / "vww_mobilenet_025.onnx"
    onnx.save(vww_mobilenet_025(), path)
    yield "vww_mobilenet_025", path, smooth_images(64, 0)
