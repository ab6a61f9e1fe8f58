"""Dead channels: output channels whose folded weights are ~0 (a BatchNorm gamma of ~1e-30 folded into
the conv, as in many Keras/TFLite-exported MobileNets) and whose bias is not. At s_in * s_w[c] ~ 1e-34
such a bias cannot be an int32; mcuq raises that channel's weight scale as the TFLite converter does
(`quant.bias_safe_weight_scales`), and the channel then outputs act(bias) as the float model does.
`mcuq.compile` itself fails when the C differs from the golden model; these tests add the comparison
with ONNX Runtime on the dead channels and the layer parameters that make it so."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper

import mcuq
from mcuq import quant
from mcuq.errors import McuqError
from mcuq.numerics import fixedpoint
from tests.helpers.qdq_models import QdqBuilder
from tests.helpers.small_models import conv, make_model

RNG = np.random.default_rng(77)
DEAD_WEIGHT = 1e-30
DEAD_BIAS = 0.5
HALF_INT32 = fixedpoint.INT32_MAX // 2
FLOAT32_SLACK = HALF_INT32 >> 22  # the raised weight scale is a float32: the bias lands within 2 ulp of 2^30


def near_half_int32(q) -> bool:
    return abs(abs(int(q)) - HALF_INT32) <= FLOAT32_SLACK


def kill(weights: np.ndarray, bias: np.ndarray, channels: list[int], axis: int = 0) -> None:
    """Make ``channels`` dead in place: weights +-1e-30, bias alternately +0.5 and -0.5."""
    moved = np.moveaxis(weights, axis, 0)
    for i, c in enumerate(channels):
        moved[c] = DEAD_WEIGHT * np.where(RNG.random(moved[c].shape) < 0.5, -1.0, 1.0)
        bias[c] = DEAD_BIAS if i % 2 == 0 else -DEAD_BIAS


def dead_conv(name, x, out, c_in, c_out, dead, **attrs):
    node, inits = conv(name, x, out, c_in, c_out, **attrs)
    kill(inits[f"{name}_w"], inits[f"{name}_b"], dead)
    return node, inits


def case_conv():
    node, inits = dead_conv("c", "x", "h", 3, 8, [1, 5, 6])
    return [node, helper.make_node("Relu", ["h"], ["y"])], [1, 3, 8, 8], inits, "c", [1, 5, 6]


def case_depthwise():
    node, inits = dead_conv("dw", "x", "y", 6, 6, [0, 3], group=6)
    return [node], [1, 6, 7, 7], inits, "dw", [0, 3]


def case_gemm():
    w = RNG.normal(0, 0.3, (10, 48)).astype(np.float32)
    b = RNG.normal(0, 0.1, 10).astype(np.float32)
    kill(w, b, [2, 7, 9])
    nodes = [helper.make_node("Flatten", ["x"], ["f"]),
             helper.make_node("Gemm", ["f", "fc_w", "fc_b"], ["y"], name="fc", transB=1)]
    return nodes, [1, 3, 4, 4], {"fc_w": w, "fc_b": b}, "fc", [2, 7, 9]


CASES = {"conv": case_conv, "depthwise": case_depthwise, "gemm": case_gemm}


def ort_outputs(path, x: np.ndarray) -> list[np.ndarray]:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return [np.concatenate([session.run(None, {"x": s[None]})[k] for s in x]) for k in range(len(session.get_outputs()))]


def compile_model(model, tmp_path, input_shape, **options):
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    x = RNG.normal(0, 1, size=(48, *input_shape[1:])).astype(np.float32)
    compiled = mcuq.compile(path, x[:32], tmp_path / "out", verify_data=x[32:], **options)
    return compiled, path, x[32:]


def assert_dead_channels_match(compiled, path, x, output: str, channels: list[int]) -> None:
    """On the dead channels the C equals ONNX Runtime (then act(bias)) to within one output step."""
    k = compiled.qmodel.outputs.index(output)
    got = compiled.run(x)
    got = got[k] if isinstance(got, list) else got
    ref = ort_outputs(path, x)[k]
    step = compiled.qmodel.tensors[output].scale
    diff = np.abs(np.take(got, channels, axis=1) - np.take(ref, channels, axis=1))
    assert diff.max() <= step * 1.01, (diff.max(), step)


def layer_named(compiled, name: str):
    return next(layer for layer in compiled.qmodel.layers if layer.name == name and hasattr(layer.params, "bias"))


@pytest.mark.parametrize("dtype", ["int8", "int16"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_dead_channels_compile_and_output_act_of_bias(case, dtype, tmp_path):
    nodes, input_shape, inits, layer, dead = CASES[case]()
    int16 = (layer,) if dtype == "int16" else ()
    compiled, path, x = compile_model(make_model(nodes, input_shape, inits), tmp_path, input_shape, int16_layers=int16)
    params = layer_named(compiled, layer).params
    assert compiled.qmodel.tensors[layer_named(compiled, layer).output].dtype == dtype
    # TFLite's rule: a dead channel's bias sits at the middle of int32, its weights all quantize to 0.
    weights = np.moveaxis(np.asarray(params.weights), 3 if case == "depthwise" else 0, 0)
    for c in dead:
        assert near_half_int32(params.bias[c])
        assert not weights[c].any()
    live = [c for c in range(len(params.bias)) if c not in dead]
    assert np.abs(weights[live]).reshape(len(live), -1).max(axis=1).min() == 127  # live channels untouched
    for m in compiled.report["verification"]["float_metrics"]:
        assert m["sqnr_db"] > 25, m
    assert_dead_channels_match(compiled, path, x, "y", dead)


def batchnorm(name, x, out, channels, dead):
    gamma = RNG.uniform(0.5, 1.5, channels).astype(np.float32)
    beta = RNG.normal(0, 0.2, channels).astype(np.float32)
    gamma[dead] = DEAD_WEIGHT
    beta[dead] = [DEAD_BIAS * (0.6 + 0.4 * i) for i in range(len(dead))]  # positive: visible through the Relu
    inits = {f"{name}_g": gamma, f"{name}_b": beta,
             f"{name}_m": RNG.normal(0, 0.1, channels).astype(np.float32),
             f"{name}_v": RNG.uniform(0.5, 2.0, channels).astype(np.float32)}
    node = helper.make_node("BatchNormalization", [x] + list(inits), [out], name=name)
    return node, inits


def mobilenet_like():
    """Three MobileNet blocks (conv or depthwise, then pointwise), each conv followed by a BatchNorm
    with some gammas at 1e-30 and a Relu; then global pooling and a classifier. The first pointwise
    block's output is a second model output, so that its dead channels can be compared too."""
    nodes, inits = [], {}
    x, c_in = "x", 3
    blocks = [("stem", 8, {"strides": [2, 2]}, [2, 5]), ("dw1", 8, {"group": 8}, [1]), ("pw1", 16, {"k": 1}, [0, 7, 12]),
              ("dw2", 16, {"group": 16, "strides": [2, 2]}, [3, 7]), ("pw2", 16, {"k": 1}, [4])]
    for name, c_out, attrs, dead in blocks:
        node, w = conv(name, x, f"{name}_conv", c_in, c_out, **attrs)
        bn, b = batchnorm(f"{name}_bn", f"{name}_conv", f"{name}_bnout", c_out, dead)
        out = "mid" if name == "pw1" else f"{name}_relu"
        nodes += [node, bn, helper.make_node("Relu", [f"{name}_bnout"], [out])]
        inits.update(w | b)
        x, c_in = out, c_out
    fc_w = RNG.normal(0, 0.3, (16, 4)).astype(np.float32)
    nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"]),
              helper.make_node("MatMul", ["flat", "fc_w"], ["y"])]
    inits["fc_w"] = fc_w
    return make_model(nodes, [1, 3, 16, 16], inits, outputs=("y", "mid"))


def test_mobilenet_with_batchnorm_folded_from_near_zero_gammas(tmp_path):
    compiled, path, x = compile_model(mobilenet_like(), tmp_path, [1, 3, 16, 16])
    for m in compiled.report["verification"]["float_metrics"]:
        assert m["sqnr_db"] > 25, m
    assert_dead_channels_match(compiled, path, x, "mid", [0, 7, 12])
    raised = [c for c in range(16) if near_half_int32(layer_named(compiled, "pw1").params.bias[c])]
    assert raised == [0, 7, 12]


# -- the rule itself ---------------------------------------------------------------------------


def test_weight_scales_of_live_channels_are_unchanged():
    w = RNG.normal(0, 0.3, (4, 9)).astype(np.float32)
    b = np.array([0.1, 0.5, -0.5, 0.0], dtype=np.float32)
    w[1:3] = 1e-30
    scales = quant.weight_scales_per_channel(w, 0)
    safe = quant.bias_safe_weight_scales(b, 0.02, scales)
    assert safe[0] == scales[0] and safe[3] == scales[3]  # a live channel, and a dead one without bias
    assert np.all(safe[1:3] > 1e6 * scales[1:3])
    q = quant.quantize_bias(b, np.float32(0.02), safe)
    assert all(near_half_int32(v) for v in q[1:3])


@settings(max_examples=200, deadline=None)
@given(st.floats(-1e4, 1e4), st.floats(1e-6, 10.0), st.floats(1e-38, 1.0))
def test_bias_always_fits_the_middle_half_of_int32(bias, input_scale, weight_scale):
    s_in = float(np.float32(input_scale))
    scales = quant.bias_safe_weight_scales(np.array([bias], np.float32), s_in, np.array([weight_scale]))
    q = quant.quantize_bias(np.array([bias], np.float32), s_in, scales)
    assert abs(int(q[0])) <= HALF_INT32 + FLOAT32_SLACK


def test_bias_beyond_int32_is_an_error_not_a_clip():
    with pytest.raises(ValueError, match="bias of output channel 1"):
        quant.quantize_bias(np.array([0.1, 0.5], np.float32), 0.01, np.array([0.01, 1e-32]))


# -- files that fix their own scales are taken as they are ----------------------------------------


def test_onnx_runtime_quantized_dead_channels_are_taken_as_they_are(tmp_path):
    """ONNX Runtime's quantizer raises a dead channel's weight scale too (its bias at ~2^31 / 1.0001):
    mcuq keeps the file's integers and equals ONNX Runtime on the QDQ model to within one step."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    nodes, input_shape, inits, _, dead = case_conv()
    float_path, qdq_path = tmp_path / "float.onnx", tmp_path / "qdq.onnx"
    onnx.save(make_model(nodes, input_shape, inits), float_path)
    x = RNG.normal(0, 1, size=(24, *input_shape[1:])).astype(np.float32)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.samples = iter([{"x": s[None]} for s in x[:16]])

        def get_next(self):
            return next(self.samples, None)

    quantize_static(str(float_path), str(qdq_path), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    stored = {i.name: onnx.numpy_helper.to_array(i) for i in onnx.load(qdq_path).graph.initializer}
    bias_int32 = next(v for v in stored.values() if v.dtype == np.int32 and v.shape == (8,))
    assert np.all(np.abs(bias_int32[dead]) > HALF_INT32)  # ONNX Runtime's rule, not TFLite's
    compiled = mcuq.compile(qdq_path, x[:16], tmp_path / "out", verify_data=x[16:])
    assert np.array_equal(np.asarray(layer_named(compiled, "c").params.bias), bias_int32)
    step = compiled.qmodel.tensors["y"].scale
    assert compiled.report["verification"]["float_metrics"][0]["max_abs_error"] <= step * 1.01
    assert_dead_channels_match(compiled, qdq_path, x[16:], "y", dead)


def qdq_conv(weight_scales: np.ndarray, bias: np.ndarray | None = None, bias_int32: np.ndarray | None = None):
    """x -> Q/DQ -> Conv(3 -> 2, 3x3) with stored int8 weights at ``weight_scales`` and a float bias,
    or an int32 one at s_in * s_w -> Q/DQ -> y."""
    b = QdqBuilder(seed=3)
    x = b.fake_quant("x", 0.05, 0, "x_dq")
    q = b.rng.integers(-127, 128, size=(2, 3, 3, 3)).astype(np.int8)
    w = b.dequantize(b.const("w_int8", q), weight_scales, np.zeros(2, np.int8), "w", axis=0)
    if bias_int32 is not None:
        scales = (np.float32(0.05) * weight_scales).astype(np.float32)
        bias_name = b.dequantize(b.const("b_int32", bias_int32), scales, np.zeros(2, np.int32), "b",
                                 dtype=np.int32, axis=0)
    else:
        bias_name = b.const("b", bias)
    out = b.node("Conv", [x, w, bias_name], "conv", name="fixed_conv", pads=[1, 1, 1, 1])
    b.fake_quant(out, 0.1, 0, "y")
    return b.model([helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 5, 5])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 5, 5])])


@pytest.mark.parametrize("model, message", [
    # The file fixes a weight scale of 1e-32 and leaves the bias float: at that scale it needs ~1e32.
    (lambda: qdq_conv(np.array([0.01, 1e-32], np.float32), bias=np.array([0.1, 0.5], np.float32)),
     "bias of output channel 1"),
    # The file's int32 bias fits, but with its weights some input takes the accumulator past int32.
    (lambda: qdq_conv(np.array([0.01, 0.01], np.float32), bias_int32=np.array([5, 2**31 - 1000], np.int32)),
     "accumulator of output channel 1"),
])
def test_a_file_whose_own_scales_overflow_is_a_clear_error(model, message, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(model(), path)
    with pytest.raises(McuqError, match=message) as info:
        mcuq.compile(path, None, tmp_path / "out")
    assert "fixed_conv" in str(info.value) and "the model file fixes these scales" in str(info.value)
