"""Pre-quantized (QDQ) models: recognition of the Q/DQ patterns on small hand-built graphs, the file's
integers and scales reaching the int8 IR unchanged, and a clear error for each pattern mcuq rejects."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto

import mcuq
from mcuq import golden, passes, quant
from mcuq.errors import CalibrationError, McuqError, ModelError
from mcuq.frontend import qdq
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.qir.model import QOp
from mcuq.quant.fixed import take_fixed_quant
from tests.helpers.qdq_models import QdqBuilder, conv_relu_model, int8_io_dense_model


def _lower(model: onnx.ModelProto, tmp_path, ranges=None):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    graph, fixed = take_fixed_quant(passes.optimize(load_onnx(path)))
    return graph, fixed, quant.quantize(graph, ranges or {}, fixed)


def test_canonical_form_keeps_stored_integers_and_runs_like_the_original():
    model, stored = conv_relu_model()
    result = qdq.canonicalize(model)
    ops = [n.op_type for n in result.model.graph.node]
    # Weight and bias DQs became initializers; each activation Q became a Q -> DQ pair (float out),
    # and the DQs that read it are Identity.
    pair = ["QuantizeLinear", "DequantizeLinear", "Identity"]
    assert ops == [*pair, "Conv", "Relu", *pair]
    np.testing.assert_array_equal(result.constants["w"].values, stored["weights"])
    np.testing.assert_array_equal(result.constants["w"].scales, stored["weight_scales"])
    assert result.constants["w"].axis == 0
    np.testing.assert_array_equal(result.constants["b"].values, stored["bias"])
    assert result.io_quant == {}
    import onnxruntime as ort

    options = ort.SessionOptions()  # no fusion into ORT's integer kernels: float ops between Q and DQ
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    x = np.random.default_rng(0).uniform(-3, 3, (1, 2, 5, 5)).astype(np.float32)
    y0 = ort.InferenceSession(model.SerializeToString(), options).run(None, {"x": x})[0]
    y1 = ort.InferenceSession(result.model.SerializeToString(), options).run(None, {"x": x})[0]
    np.testing.assert_array_equal(y0, y1)


def test_conv_layer_uses_the_files_weights_bias_and_scales(tmp_path):
    model, stored = conv_relu_model()
    graph, fixed, qmodel = _lower(model, tmp_path)
    assert not any(n.op == "fake_quant" for n in graph.nodes)
    (conv,) = qmodel.layers
    assert conv.op is QOp.CONV
    np.testing.assert_array_equal(conv.params.weights, stored["weights"].transpose(0, 2, 3, 1))  # OIHW -> OHWI
    np.testing.assert_array_equal(conv.params.bias, stored["bias"])
    x, y = qmodel.tensors[qmodel.inputs[0]], qmodel.tensors[qmodel.outputs[0]]
    assert (x.scale, x.zero_point) == (np.float32(0.05), 3)
    assert (y.scale, y.zero_point) == (np.float32(0.04), -128)
    assert conv.params.act_min == -128  # the fused Relu: real 0.0 is the zero point


def test_int8_io_shape_ops_and_matmul_bias(tmp_path):
    model, stored = int8_io_dense_model()
    result = qdq.canonicalize(model)
    assert result.io_quant == {"x": qdq.ActQuant(np.float32(0.1), -5), "probs": qdq.ActQuant(1 / 256, -128)}
    assert result.model.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT
    assert "Gemm" in [n.op_type for n in result.model.graph.node]  # MatMul + bias Add
    graph, _, qmodel = _lower(model, tmp_path)
    assert graph.io_quant["x"] == (np.float32(0.1), -5)
    ops = [layer.op for layer in qmodel.layers]
    assert ops == [QOp.COPY, QOp.FULLY_CONNECTED, QOp.SOFTMAX] or ops == [QOp.FULLY_CONNECTED, QOp.SOFTMAX]
    fc = next(layer for layer in qmodel.layers if layer.op is QOp.FULLY_CONNECTED)
    np.testing.assert_array_equal(fc.params.weights, stored["weights"].T)
    np.testing.assert_array_equal(fc.params.bias, stored["bias"])
    logits = qmodel.tensors[fc.output]
    assert (logits.scale, logits.zero_point) == (np.float32(0.2), 7)


def test_uint8_activations_become_the_same_grid_in_int8(tmp_path):
    b = QdqBuilder()
    x = b.quantize("x", 0.02, 128, "xq", dtype=np.uint8)
    y = b.dequantize(x, 0.02, 128, "xf", dtype=np.uint8)
    w, _, scales = b.weights("w", (2, 3, 1, 1))
    b.node("Conv", [y, w], "conv")
    b.fake_quant("conv", 0.03, 0, "y")
    model = b.model_xy([1, 3, 2, 2], [1, 2, 2, 2])
    _, _, qmodel = _lower(model, tmp_path)
    x_t = qmodel.tensors[qmodel.inputs[0]]
    assert (x_t.scale, x_t.zero_point) == (np.float32(0.02), 0)  # uint8 zero point 128 -> int8 0


def test_requantization_and_a_softmax_with_another_output_scale_get_a_table(tmp_path):
    b = QdqBuilder()
    x = b.fake_quant("x", 0.1, 0, "x_dq")
    x2 = b.fake_quant(x, 0.05, 10, "x_requant")  # DQ -> Q with other parameters
    b.node("Softmax", [x2], "p")
    b.fake_quant("p", 1 / 255, -128, "y")  # ORT calibrates softmax outputs to [0, 1]: not TFLite's 1/256
    model = b.model_xy([1, 10], [1, 10])
    _, _, qmodel = _lower(model, tmp_path)
    assert [layer.op for layer in qmodel.layers] == [QOp.LUT, QOp.SOFTMAX, QOp.LUT]
    soft = qmodel.layers[1]
    assert qmodel.tensors[soft.output].scale == 1 / 256
    out = qmodel.tensors[qmodel.outputs[0]]
    assert (out.scale, out.zero_point) == (np.float32(1 / 255), -128)
    q = np.arange(-128, 112, 24, dtype=np.int8)[None]
    requant = golden.run_model(qmodel, {qmodel.inputs[0]: q})[qmodel.layers[0].output]
    np.testing.assert_array_equal(requant, np.clip(np.round(q * 0.1 / 0.05) + 10, -128, 127))


def _rejected(model: onnx.ModelProto, tmp_path) -> str:
    with pytest.raises(McuqError) as info:
        _lower(model, tmp_path)
    return str(info.value)


def test_asymmetric_weights_are_rejected_naming_the_node(tmp_path):
    model, _ = conv_relu_model(weight_zero_point=3)
    msg = _rejected(model, tmp_path)
    assert "DequantizeLinear_w" in msg and "zero point" in msg and "symmetric" in msg


def test_per_channel_activation_quantization_is_rejected(tmp_path):
    b = QdqBuilder()
    s = b.const("s", np.full(3, 0.1, np.float32))
    z = b.const("z", np.zeros(3, np.int8))
    b.node("QuantizeLinear", ["x", s, z], "xq", name="per_channel_q", axis=1)
    b.node("DequantizeLinear", ["xq", s, z], "y", axis=1)
    model = b.model_xy([1, 3, 2, 2], [1, 3, 2, 2])
    msg = _rejected(model, tmp_path)
    assert "per_channel_q" in msg and "per tensor" in msg


def test_dequantize_with_other_parameters_than_its_quantize_is_rejected(tmp_path):
    b = QdqBuilder()
    q = b.quantize("x", 0.1, 0, "xq")
    b.dequantize(q, 0.2, 0, "y", name="odd_dq")
    model = b.model_xy([1, 4], [1, 4])
    msg = _rejected(model, tmp_path)
    assert "odd_dq" in msg and "same parameters" in msg


def test_arithmetic_on_int8_tensors_is_rejected(tmp_path):
    b = QdqBuilder()
    q = b.quantize("x", 0.1, 0, "xq")
    b.node("Add", [q, q], "y", name="int8_add")
    model = b.model_xy([1, 4], [1, 4], TensorProto.FLOAT, TensorProto.INT8)
    msg = _rejected(model, tmp_path)
    assert "int8_add" in msg and "DequantizeLinear before it" in msg


def test_operator_oriented_quantization_is_rejected(tmp_path):
    b = QdqBuilder()
    b.node("QLinearMatMul", ["x"] * 8, "y", name="qlinear")
    model = b.model_xy([1, 4], [1, 4], TensorProto.INT8, TensorProto.INT8)
    with pytest.raises(ModelError, match="qlinear.*QuantFormat.QDQ"):
        qdq.canonicalize(model)


def test_an_unquantized_tensor_needs_calibration_data(tmp_path):
    b = QdqBuilder()
    x = b.fake_quant("x", 0.1, 0, "x_dq")
    w, _, _ = b.weights("w", (4, 3), axis=1)
    b.node("MatMul", [x, w], "y", name="unquantized_output")
    model = b.model_xy([1, 4], [1, 3])
    with pytest.raises(CalibrationError, match="unquantized_output.*--calib"):
        _lower(model, tmp_path)
    # With a calibrated range for the missing tensor, the rest still comes from the file.
    _, fixed, qmodel = _lower(model, tmp_path, ranges={"y": (-1.0, 1.0)})
    assert qmodel.tensors[qmodel.inputs[0]].scale == np.float32(0.1)


def test_compile_without_calibration_data_int8_in_and_out(tmp_path):
    model, _ = int8_io_dense_model()
    path = tmp_path / "dense.onnx"
    onnx.save(model, path)
    x = np.random.default_rng(1).integers(-128, 128, size=(20, 4, 2)).astype(np.int8)
    compiled = mcuq.compile(path, None, tmp_path / "out", verify_data=x)  # C == golden, or it raises
    (lsb,) = compiled.report["verification"]["int8_vs_reference"]
    assert lsb["total"] == 20 * 6 and lsb["max_lsb"] <= 2, lsb  # ORT's float softmax vs TFLite's fixed point
    y = compiled.run(x)
    assert y.dtype == np.int8 and y.shape == (20, 6)
    with pytest.raises(CalibrationError, match="int8"):
        compiled.run(x.astype(np.float32))
    calibration = compiled.report["calibration"]
    assert calibration["samples"] == 0 and calibration["fixed_by_model"] == 3  # x, logits, probs
