"""Keras-style ONNX graphs, built by hand in the form tf2onnx and tflite2onnx write them: the input is
NHWC, a Transpose makes it NCHW for the Conv nodes, and the classifier head works on NHWC again (a
Transpose back, then ReduceMean over H and W or a Reshape that flattens in NHWC order), with MatMul + Add
for Dense layers. Weights come from a fixed seed."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SEED = 21
TO_NCHW, TO_NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


class _Builder:
    """Nodes and initializers of one graph, with seeded weights."""

    def __init__(self):
        self.rng = np.random.default_rng(SEED)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(value, name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def conv_relu(self, x: str, name: str, c_in: int, c_out: int, stride: int = 1, group: int = 1) -> str:
        fan_in = 9 * c_in // group
        weight = self.rng.normal(0, np.sqrt(2 / fan_in), size=(c_out, c_in // group, 3, 3)).astype(np.float32)
        bias = self.rng.normal(0, 0.1, size=c_out).astype(np.float32)
        conv = self.node("Conv", [x, self.const(f"{name}_w", weight), self.const(f"{name}_b", bias)], name,
                         kernel_shape=[3, 3], strides=[stride, stride], pads=[1, 1, 1, 1], group=group)
        return self.node("Relu", [conv], f"{name}_relu")

    def dense(self, x: str, name: str, n_in: int, n_out: int) -> str:
        weight = self.rng.normal(0, np.sqrt(1 / n_in), size=(n_in, n_out)).astype(np.float32)
        bias = self.rng.normal(0, 0.1, size=n_out).astype(np.float32)
        matmul = self.node("MatMul", [x, self.const(f"{name}_w", weight)], f"{name}_matmul")
        return self.node("Add", [matmul, self.const(f"{name}_b", bias)], name)

    def model(self, input_shape: list[int], output: str, opset: int = 13) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes, "keras_style", [helper.make_tensor_value_info("input_1", TensorProto.FLOAT, input_shape)],
            [helper.make_tensor_value_info(output, TensorProto.FLOAT, None)], initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        return model


def keras_gap_classifier() -> onnx.ModelProto:
    """Conv, depthwise, pointwise; Keras' GlobalAveragePooling2D as ReduceMean over NHWC axes 1 and 2
    after a Transpose back to NHWC (tf2onnx's conversion of the TF graph, before its transpose optimizer
    pushes the Transpose through the ReduceMean); Dense + Softmax."""
    b = _Builder()
    x = b.node("Transpose", ["input_1"], "to_nchw", perm=TO_NCHW)
    x = b.conv_relu(x, "conv1", 3, 8, stride=2)
    x = b.conv_relu(x, "dw", 8, 8, group=8)
    x = b.conv_relu(x, "pw", 8, 16)
    x = b.node("Transpose", [x], "to_nhwc", perm=TO_NHWC)
    x = b.node("ReduceMean", [x], "gap", axes=[1, 2], keepdims=0)
    x = b.dense(x, "dense", 16, 10)
    return b.model([1, 32, 32, 3], b.node("Softmax", [x], "probs", axis=-1))


def keras_flatten_classifier() -> onnx.ModelProto:
    """Conv + MaxPool, then Keras' Flatten: Transpose to NHWC and Reshape, so the Dense weights are in
    NHWC order; two Dense layers (tflite2onnx's form of a small MNIST net)."""
    b = _Builder()
    x = b.node("Transpose", ["input_1"], "to_nchw", perm=TO_NCHW)
    x = b.conv_relu(x, "conv1", 1, 8)
    x = b.node("MaxPool", [x], "pool", kernel_shape=[2, 2], strides=[2, 2])
    x = b.conv_relu(x, "conv2", 8, 8, stride=2)
    x = b.node("Transpose", [x], "to_nhwc", perm=TO_NHWC)
    x = b.node("Reshape", [x, b.const("flat_shape", np.array([1, 7 * 7 * 8], np.int64))], "flatten")
    x = b.node("Relu", [b.dense(x, "dense1", 7 * 7 * 8, 32)], "dense1_relu")
    return b.model([1, 28, 28, 1], b.dense(x, "dense2", 32, 10))


# name -> (builder, NHWC input shape with batch 1)
MODELS: dict[str, tuple[Callable[[], onnx.ModelProto], tuple[int, ...]]] = {
    "keras_gap_classifier": (keras_gap_classifier, (1, 32, 32, 3)),
    "keras_flatten_classifier": (keras_flatten_classifier, (1, 28, 28, 1)),
}
