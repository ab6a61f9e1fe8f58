"""Small hand-built QDQ models (QuantizeLinear/DequantizeLinear around float ops) for the tests."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class QdqBuilder:
    """Nodes and initializers of a QDQ graph, added one pattern at a time."""

    def __init__(self, seed: int = 0):
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.rng = np.random.default_rng(seed)

    def const(self, name: str, array) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str | None = None, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=name or f"{op}_{output}", **attrs))
        return output

    def quantize(self, x: str, scale: float, zero_point: int, out: str, dtype=np.int8, name=None) -> str:
        s = self.const(f"{out}_scale", np.float32(scale))
        z = self.const(f"{out}_zp", np.array(zero_point, dtype))
        return self.node("QuantizeLinear", [x, s, z], out, name=name)

    def dequantize(self, q: str, scale, zero_point, out: str, dtype=np.int8, axis=None, name=None) -> str:
        s = self.const(f"{out}_scale", np.asarray(scale, np.float32))
        z = self.const(f"{out}_zp", np.asarray(zero_point, dtype))
        extra = {} if axis is None else {"axis": axis}
        return self.node("DequantizeLinear", [q, s, z], out, name=name, **extra)

    def fake_quant(self, x: str, scale: float, zero_point: int, out: str) -> str:
        """Q → DQ: ``out`` is the float tensor the next op reads."""
        q = self.quantize(x, scale, zero_point, f"{out}_q")
        return self.dequantize(q, scale, zero_point, out)

    def weights(self, name: str, shape: tuple[int, ...], axis: int = 0, zero_point: int = 0) -> tuple[str, np.ndarray, np.ndarray]:
        """Random int8 weights per channel along ``axis`` behind a DQ: (float tensor, ints, scales)."""
        q = self.rng.integers(-127, 128, size=shape).astype(np.int8)
        scales = self.rng.uniform(0.002, 0.02, size=shape[axis]).astype(np.float32)
        stored = self.const(f"{name}_int8", q)
        zps = np.full(shape[axis], zero_point, np.int8)
        return self.dequantize(stored, scales, zps, name, axis=axis), q, scales

    def bias(self, name: str, input_scale: float, weight_scales: np.ndarray) -> tuple[str, np.ndarray]:
        q = self.rng.integers(-2000, 2000, size=weight_scales.shape).astype(np.int32)
        scales = (np.float32(input_scale) * weight_scales).astype(np.float32)
        stored = self.const(f"{name}_int32", q)
        return self.dequantize(stored, scales, np.zeros_like(q), name, dtype=np.int32, axis=0), q

    def model_xy(self, x_shape, y_shape, x_type=TensorProto.FLOAT, y_type=TensorProto.FLOAT) -> onnx.ModelProto:
        """The model with graph input ``x`` and graph output ``y``."""
        return self.model([helper.make_tensor_value_info("x", x_type, x_shape)],
                          [helper.make_tensor_value_info("y", y_type, y_shape)])

    def model(self, inputs, outputs, opset: int = 13) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "qdq", inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        model.ir_version = 8
        return model


def conv_relu_model(weight_zero_point: int = 0) -> tuple[onnx.ModelProto, dict]:
    """float x → Q/DQ → Conv (per-channel int8 W, int32 b) → Relu → Q/DQ → float y (ORT's layout)."""
    b = QdqBuilder()
    x = b.fake_quant("x", 0.05, 3, "x_dq")
    w, wq, w_scales = b.weights("w", (3, 2, 3, 3), zero_point=weight_zero_point)
    bias, bq = b.bias("b", 0.05, w_scales)
    conv = b.node("Conv", [x, w, bias], "conv", name="the_conv", pads=[1, 1, 1, 1])
    relu = b.node("Relu", [conv], "relu")
    b.fake_quant(relu, 0.04, -128, "y")
    model = b.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
                    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 5, 5])])
    return model, dict(weights=wq, weight_scales=w_scales, bias=bq)


def int8_io_dense_model() -> tuple[onnx.ModelProto, dict]:
    """tf2onnx style: int8 input [1,4,2] → Reshape (on int8) → DQ → MatMul(W) → Add(b) → Q → int8
    output, with a Softmax on int8 dequantized values → Q(1/256, -128) as the graph output."""
    b = QdqBuilder(1)
    shape = b.const("flat_shape", np.array([1, 8], np.int64))
    flat = b.node("Reshape", ["x", shape], "flat_int8")
    x = b.dequantize(flat, 0.1, -5, "flat")
    w, wq, w_scales = b.weights("w", (8, 6), axis=1)
    bias, bq = b.bias("b", 0.1, w_scales)
    mm = b.node("MatMul", [x, w], "mm", name="the_matmul")
    add = b.node("Add", [mm, bias], "logits_f")
    logits = b.quantize(add, 0.2, 7, "logits")
    b.node("Softmax", [b.dequantize(logits, 0.2, 7, "logits_dq")], "probs_f")
    b.quantize("probs_f", 1 / 256, -128, "probs")
    model = b.model([helper.make_tensor_value_info("x", TensorProto.INT8, [1, 4, 2])],
                    [helper.make_tensor_value_info("probs", TensorProto.INT8, [1, 6])])
    return model, dict(weights=wq, weight_scales=w_scales, bias=bq)
