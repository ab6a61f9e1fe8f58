"""A float model quantized by ONNX Runtime's ``quantize_static`` (QDQ, per-channel int8 weights, int8
activations), compiled without calibration data and compared with ONNX Runtime running that QDQ file.

mcuq computes every layer the TFLite way (integer accumulators, Q31 multipliers, fixed-point softmax),
ONNX Runtime either in float between the Q/DQ nodes (no graph optimization) or with its own int8
kernels (QLinearConv, ...). Measured with onnxruntime 1.31: at most 1 LSB apart on the output,
on about 9 % (float path) and 20 % (int8 kernels) of the values; the C equals the golden model."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import mcuq

ort = pytest.importorskip("onnxruntime")
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static  # noqa: E402


def _float_model(rng) -> onnx.ModelProto:
    """Conv → Relu → depthwise Conv → Relu → MaxPool → 1×1 Conv + residual Add → Relu →
    GlobalAveragePool → Flatten → Gemm → Softmax, NCHW [1, 3, 16, 16]."""

    def init(name, shape, scale=0.3):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    node = helper.make_node
    nodes = [
        node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
        node("Relu", ["c1"], ["r1"]),
        node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], group=8),
        node("Relu", ["c2"], ["r2"]),
        node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        node("Conv", ["p2", "w3", "b3"], ["c3"]),
        node("Add", ["c3", "p2"], ["a3"]),
        node("Relu", ["a3"], ["r3"]),
        node("GlobalAveragePool", ["r3"], ["g"]),
        node("Flatten", ["g"], ["f"]),
        node("Gemm", ["f", "wf", "bf"], ["logits"], transB=1),
        node("Softmax", ["logits"], ["y"]),
    ]
    inits = [init("w1", (8, 3, 3, 3)), init("b1", (8,), 0.1), init("w2", (8, 1, 3, 3)), init("b2", (8,), 0.1),
             init("w3", (8, 8, 1, 1)), init("b3", (8,), 0.1), init("wf", (10, 8)), init("bf", (10,), 0.1)]
    graph = helper.make_graph(nodes, "small", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


class _Reader(CalibrationDataReader):
    def __init__(self, samples):
        self.samples = iter([{"x": s[None]} for s in samples])

    def get_next(self):
        return next(self.samples, None)


def _ort_outputs(path, x, level):
    options = ort.SessionOptions()
    options.graph_optimization_level = level
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"x": s[None]})[0] for s in x])


def test_ort_quantize_static_per_channel_qdq(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (100, 3, 16, 16)).astype(np.float32)
    onnx.save(_float_model(rng), tmp_path / "float.onnx")
    quantize_static(str(tmp_path / "float.onnx"), str(tmp_path / "qdq.onnx"), _Reader(x[:50]),
                    quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)

    compiled = mcuq.compile(tmp_path / "qdq.onnx", None, tmp_path / "out", verify_data=x[50:])
    assert compiled.report["verification"]["c_vs_golden"]["mismatches"] == 0
    ops = [layer.op.value for layer in compiled.qmodel.layers]
    assert ops.count("conv") == 2 and "depthwise_conv" in ops and "add" in ops and "softmax" in ops
    out = compiled.qmodel.tensors[compiled.qmodel.outputs[0]]
    # ORT's softmax output quantization (1/255, as calibrated) is not TFLite's 1/256: a table requantizes.
    assert out.scale == np.float32(1 / 255) and ops[-1] == "lut"

    c_int8 = np.round(compiled.run(x[50:]) / out.scale) + out.zero_point
    for level, most in ((ort.GraphOptimizationLevel.ORT_DISABLE_ALL, 0.15),
                        (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, 0.30)):
        ort_int8 = np.round(_ort_outputs(tmp_path / "qdq.onnx", x[50:], level) / out.scale) + out.zero_point
        diff = np.abs(ort_int8 - c_int8)
        assert diff.max() <= 1, (level, diff.max())
        assert np.mean(diff > 0) <= most, (level, np.mean(diff > 0))
