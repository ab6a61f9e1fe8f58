"""TFLite frontend: a .tflite file → float IR (`mcuq.frontend.tflite_loader`) must compute what TensorFlow Lite
Micro computes on the same file; what it cannot compile is refused in one message naming every operator."""

import numpy as np
import pytest

import mcuq
from mcuq import passes
from mcuq.errors import ModelError, UnsupportedModelError
from mcuq.frontend.tflite_loader import HANDLERS, load_tflite
from mcuq.inspection import inspect_model
from mcuq.ir import float_exec
from tests.helpers.tflite_build import Op, T, tflm_outputs, write

SAME, VALID = 0, 1
RELU6 = 3


def weights(*shape: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.5, 0.5, size=shape).astype(np.float32)


def small_model(path):
    """Odd sizes so that SAME pads one pixel at the end (TFLite's rule): max pool 7 → 4, conv 6 → 3. MUL and
    ADD take constant operands that broadcast."""
    tensors = [
        T("x", (1, 7, 7, 4)),
        T("pooled", (1, 4, 4, 4)),
        T("paddings", (4, 2), np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32)),
        T("padded", (1, 6, 6, 4)),
        T("gate", (1, 6, 6, 4)),
        T("squash", (1, 6, 6, 4)),
        T("joined", (1, 6, 6, 8)),
        T("w", (3, 3, 3, 8), weights(3, 3, 3, 8, seed=1)),
        T("b", (3,), weights(3, seed=2)),
        T("conv", (1, 3, 3, 3)),
        T("dw_w", (1, 3, 3, 6), weights(1, 3, 3, 6, seed=3)),
        T("dw_b", (6,), weights(6, seed=4)),
        T("dw", (1, 3, 3, 6)),
        T("axes", (2,), np.array([1, 2], np.int32)),
        T("mean", (1, 6)),
        T("gain", (6,), weights(6, seed=7)),
        T("scaled", (1, 6)),
        T("offset", (1,), np.array([0.25], np.float32)),
        T("shifted", (1, 6)),
        T("fc_w", (5, 6), weights(5, 6, seed=5)),
        T("fc_b", (5,), weights(5, seed=6)),
        T("logits", (1, 5)),
        T("probs", (1, 5)),
    ]
    ops = [
        Op("MAX_POOL_2D", (0,), (1,), "Pool2DOptions",
           {"Padding": SAME, "StrideW": 2, "StrideH": 2, "FilterWidth": 2, "FilterHeight": 2}),
        Op("PAD", (1, 2), (3,)),
        Op("LOGISTIC", (3,), (4,)),
        Op("TANH", (3,), (5,)),
        Op("CONCATENATION", (4, 5), (6,), "ConcatenationOptions", {"Axis": 3}),
        Op("CONV_2D", (6, 7, 8), (9,), "Conv2DOptions",
           {"Padding": SAME, "StrideW": 2, "StrideH": 2, "DilationWFactor": 1, "DilationHFactor": 1,
            "FusedActivationFunction": RELU6}),
        Op("DEPTHWISE_CONV_2D", (9, 10, 11), (12,), "DepthwiseConv2DOptions",
           {"Padding": SAME, "StrideW": 1, "StrideH": 1, "DepthMultiplier": 2, "DilationWFactor": 1,
            "DilationHFactor": 1}),
        Op("MEAN", (12, 13), (14,), "ReducerOptions", {"KeepDims": False}),
        Op("MUL", (14, 15), (16,), "MulOptions", {}),
        Op("ADD", (17, 16), (18,), "AddOptions", {"FusedActivationFunction": RELU6}),
        Op("FULLY_CONNECTED", (18, 19, 20), (21,), "FullyConnectedOptions", {}),
        Op("SOFTMAX", (21,), (22,), "SoftmaxOptions", {"Beta": 1.0}),
    ]
    return write(path / "small.tflite", tensors, ops, [0], [22])


def test_float_ir_computes_what_tflite_micro_computes(tmp_path):
    path = small_model(tmp_path)
    graph = passes.optimize(load_tflite(path))
    x = np.random.default_rng(0).uniform(-3, 3, size=(4, 7, 7, 4)).astype(np.float32)
    expected = np.concatenate(tflm_outputs(path, x))
    actual = float_exec.run(graph, {graph.inputs[0]: x})[graph.outputs[0]]
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_float_tflite_compiles_with_calibration_and_meets_tflite_micro(tmp_path):
    path = small_model(tmp_path)
    x = np.random.default_rng(1).uniform(-3, 3, size=(60, 7, 7, 4)).astype(np.float32)
    compiled = mcuq.compile(path, x[:40], tmp_path / "out", verify_data=x[40:])
    verification = compiled.report["verification"]
    assert verification["float_reference"].startswith("TensorFlow Lite Micro")
    assert verification["c_vs_golden"]["mismatches"] == 0
    (metrics,) = verification["float_metrics"]
    assert metrics["sqnr_db"] > 25, metrics


def unsupported_model(path):
    tensors = [T("x", (1, 4)), T("y", (1, 4)), T("e", (1, 4)), T("d", (1, 4)), T("s", (1, 4))]
    ops = [Op("LOGISTIC", (0,), (1,)), Op("EXP", (1,), (2,)), Op("SUB", (2, 1), (3,), "SubOptions", {}),
           Op("TANH", (3,), (4,))]
    return write(path / "bad.tflite", tensors, ops, [0], [4])


def test_every_unsupported_operator_is_named_at_once(tmp_path):
    with pytest.raises(UnsupportedModelError) as info:
        load_tflite(unsupported_model(tmp_path))
    message = str(info.value)
    assert "2 nodes of the model cannot be compiled" in message
    assert "node 'e' (operator 1 of 4, reads tensor 'y'): op 'EXP' is not supported" in message
    assert "node 'd' (operator 2 of 4, reads tensor 'e'): op 'SUB' is not supported" in message
    assert "supported ops: " + ", ".join(sorted(HANDLERS)) in message


def test_a_hostile_tensor_name_reaches_the_message_on_one_line(tmp_path):
    tensors = [T("x", (1, 4)), T("evil\nname\x1b[2J", (1, 4))]
    path = write(tmp_path / "evil.tflite", tensors, [Op("EXP", (0,), (1,))], [0], [1])
    with pytest.raises(UnsupportedModelError) as info:
        load_tflite(path)
    assert "\n" not in str(info.value).split("supported ops")[0] and "\x1b" not in str(info.value)


def test_not_a_tflite_file(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x08\x07not a flatbuffer at all")
    with pytest.raises(ModelError, match="not a TFLite flatbuffer"):
        load_tflite(path)


def test_inspect_reads_tflite(zoo):
    verdict = inspect_model(zoo / "kws_dscnn" / "model_int8.tflite")
    assert verdict.supported and [layer["op"] for layer in verdict.layers].count("depthwise_conv") == 4


def test_corrupt_files_get_a_message_not_a_traceback(tmp_path):
    x, y = T("x", (1, 4)), T("y", (1, 4))
    out_of_range = write(tmp_path / "index.tflite", [x, y], [Op("LOGISTIC", (0,), (5,))], [0], [1])
    with pytest.raises(ModelError, match=r"operator 0 \(LOGISTIC\) names tensor 5, but the model has tensors 0 to 1"):
        load_tflite(out_of_range)
    never_written = write(tmp_path / "order.tflite", [x, y, T("z", (1, 4))], [Op("LOGISTIC", (2,), (1,))], [0], [1])
    with pytest.raises(ModelError, match="reads tensor 'z', which no earlier operator writes"):
        load_tflite(never_written)
    no_options = write(tmp_path / "options.tflite", [x, y], [Op("CONCATENATION", (0,), (1,))], [0], [1])
    with pytest.raises(ModelError, match=r"operator 0 \(CONCATENATION\) has no options table"):
        load_tflite(no_options)


def test_a_fused_tanh_is_refused_with_the_fix(tmp_path):
    tensors = [T("x", (1, 4)), T("y", (1, 4)), T("s", (1, 4))]
    path = write(tmp_path / "tanh.tflite", tensors,
                 [Op("ADD", (0, 0), (1,), "AddOptions", {"FusedActivationFunction": 4}), Op("LOGISTIC", (1,), (2,))],
                 [0], [2])
    with pytest.raises(UnsupportedModelError, match="fused activation TANH; convert with RELU, RELU6 or no fused"):
        load_tflite(path)
