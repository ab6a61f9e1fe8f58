"""Mixed precision (int16 activations, int8 weights): the request is checked, the lowering inserts
requantize layers at the int8/int16 boundaries, and whole models with int16 layers compile to C that
equals the golden model bit for bit (compile raises otherwise) and is closer to the float model."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq import data, golden, passes, quant
from mcuq.calib import calibrate
from mcuq.errors import McuqError
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.quant import auto_precision, precision
from tests.helpers.paths import REPO
from tests.helpers.small_models import conv, make_model

DIGITS = REPO / "examples" / "digits"
DIGITS_INT16 = ("conv1", "pool1", "conv2", "pool2", "fc")  # every digits layer with an int16 form


@pytest.fixture(scope="module")
def digits_graph():
    graph = passes.optimize(load_onnx(DIGITS / "digits_cnn.onnx"))
    calib = data.prepare_samples(np.load(DIGITS / "calib.npy"), graph, data.onnx_input_shape(graph, "input"))
    return graph, calibrate(graph, calib)


def test_int16_request_is_checked(digits_graph):
    graph, ranges = digits_graph
    with pytest.raises(McuqError, match=r"'softmax' is a softmax, which has no int16 kernel"):
        quant.quantize(graph, ranges, int16_nodes=["conv1", "softmax"])
    with pytest.raises(McuqError, match=r"no layer named 'nope'.*conv1, pool1"):
        quant.quantize(graph, ranges, int16_nodes=["nope"])


def test_boundaries_are_requantize_layers(digits_graph):
    graph, ranges = digits_graph
    model = quant.quantize(graph, ranges, int16_nodes=["conv2"])
    ops = [(layer.op.value, model.tensors[layer.output].dtype) for layer in model.layers]
    assert ops == [("conv", "int8"), ("max_pool", "int8"), ("requantize", "int16"), ("conv", "int16"),
                   ("requantize", "int8"), ("max_pool", "int8"), ("copy", "int8"), ("fully_connected", "int8"),
                   ("softmax", "int8")]
    conv2 = model.layers[3]
    into, out = model.tensors[conv2.inputs[0]], model.tensors[conv2.output]
    assert into.zero_point == 0 and out.zero_point == 0 and conv2.params.input_offset == 0
    assert conv2.params.bias.dtype == np.int64 and (conv2.params.act_min, conv2.params.act_max) == (0, 32767)
    lo, hi = ranges["relu2__before_transpose"]
    assert out.scale == pytest.approx(max(-lo, hi) / 32767, rel=1e-6)
    assert model.float_name(conv2.inputs[0]) == "pool1__max_pool"


def test_a_model_output_written_by_an_int16_layer_stays_int16(digits_graph):
    graph, ranges = digits_graph
    head = graph.copy()
    head.nodes = head.nodes[:-1]  # end at the fully connected layer: its output is the graph output
    head.outputs = ["logits"]
    model = quant.quantize(head, ranges, int16_nodes=["fc"])
    assert model.outputs == ["logits"] and model.tensors["logits"].dtype == "int16"
    assert model.layers[-1].op.value == "fully_connected" and model.layers[-1].output == "logits"
    lo, hi = ranges["logits"]
    assert model.tensors["logits"].zero_point == 0
    assert model.tensors["logits"].scale == pytest.approx(max(-lo, hi) / 32767, rel=1e-6)


def test_outputs_stands_for_the_layers_writing_the_model_outputs(digits_graph):
    graph, _ = digits_graph
    head = graph.copy()
    head.nodes = head.nodes[:-1]
    head.outputs = ["logits"]
    assert precision.resolve(head, ["outputs"]) == frozenset({"fc"})
    with pytest.raises(McuqError, match="written by a softmax, which has no int16 kernel"):
        precision.resolve(graph, ["outputs"])


def test_auto_spec_parsing():
    assert auto_precision.parse(None) == ((), None)
    assert auto_precision.parse("a, b") == (("a", "b"), None)
    assert auto_precision.parse(["a"]) == (("a",), None)
    assert auto_precision.parse("auto") == ((), auto_precision.DEFAULT_THRESHOLD_DB)
    assert auto_precision.parse("auto:28.5") == ((), 28.5)
    with pytest.raises(McuqError, match="auto:DB"):
        auto_precision.parse("auto:loud")


def _output_sqnr(compiled) -> float:
    (metrics,) = compiled.report["verification"]["float_metrics"]
    return metrics["sqnr_db"]


def _layer_sqnr(compiled, name: str) -> float:
    (row,) = [r for r in compiled.report["layers"] if r["name"] == name]
    return row["sqnr_db"]


@pytest.mark.slow
def test_digits_with_int16_layers(tmp_path):
    with np.load(DIGITS / "test.npz") as d:
        x, y = d["x"], d["y"]
    calib = np.load(DIGITS / "calib.npy")
    int8 = mcuq.compile(DIGITS / "digits_cnn.onnx", calib, tmp_path / "a", verify_data=x, verify_labels=y)
    mixed = mcuq.compile(DIGITS / "digits_cnn.onnx", calib, tmp_path / "b", verify_data=x, verify_labels=y,
                         int16_layers=",".join(DIGITS_INT16))
    assert mixed.report["verification"]["c_vs_golden"]["mismatches"] == 0
    kernels = (tmp_path / "b" / "digits_cnn.c").read_text()
    for fn in ("mcuq_convolve_s16", "mcuq_max_pool_s16", "mcuq_fully_connected_s16", "mcuq_requantize_s8_s16",
               "mcuq_requantize_s16_s8"):
        assert f"status = {fn}(" in kernels, fn
    # The softmax output stays int8 (fixed scale 1/256), which bounds its SQNR; the logits before it
    # (the fully connected layer's output, int16 here) show the gain, which the int8 weights bound
    # (measured: 36.9 -> 39.7 dB).
    assert _layer_sqnr(mixed, "fc") > _layer_sqnr(int8, "fc") + 2, (_layer_sqnr(mixed, "fc"), _layer_sqnr(int8, "fc"))
    assert _output_sqnr(mixed) > _output_sqnr(int8) - 1.5
    precision = mixed.report["precision"]
    assert [e["name"] for e in precision["int16_layers"]] == list(DIGITS_INT16) and precision["boundaries"] == 2
    assert mixed.arena_size > int8.arena_size
    assert "## int16 layers" in (tmp_path / "b" / "report.md").read_text()
    # The float API works unchanged: input and output stay int8 at the boundary of the C API.
    probs = mixed.run(x[:4])
    assert probs.shape == (4, 10) and np.allclose(probs.sum(axis=1), 1.0, atol=0.05)


@pytest.mark.slow
def test_residual_add_and_avg_pool_in_int16(tmp_path):
    a, ia = conv("a", "x", "ha", 3, 8)
    b, ib = conv("b", "ha", "hb", 8, 8)
    nodes = [a, b, helper.make_node("Add", ["hb", "ha"], ["s"]),
             helper.make_node("AveragePool", ["s"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    path = tmp_path / "res.onnx"
    onnx.save(make_model(nodes, [1, 3, 8, 8], {**ia, **ib}), path)
    samples = np.random.default_rng(5).normal(0, 1, size=(80, 3, 8, 8)).astype(np.float32)
    int8 = mcuq.compile(path, samples[:48], tmp_path / "a", verify_data=samples[48:])
    names = [layer.name for layer in int8.qmodel.layers]
    mixed = mcuq.compile(path, samples[:48], tmp_path / "b", verify_data=samples[48:], int16_layers=names)
    kinds = {(layer.op.value, mixed.qmodel.tensors[layer.output].dtype) for layer in mixed.qmodel.layers}
    assert {("add", "int16"), ("avg_pool", "int16"), ("conv", "int16")} <= kinds
    # The graph output is converted back to int8, whose grid bounds the output's SQNR (measured 29.1 ->
    # 31.0 dB); the int16 tensor before that conversion shows the gain (measured 29.1 -> 37.8 dB).
    pool = next(layer.name for layer in mixed.qmodel.layers if layer.op.value == "avg_pool")
    assert _layer_sqnr(mixed, pool) > _layer_sqnr(int8, pool) + 6, (_layer_sqnr(mixed, pool), _layer_sqnr(int8, pool))
    assert _output_sqnr(mixed) > _output_sqnr(int8)


@pytest.mark.slow
def test_kws_auto_int16(zoo, kws_data, tmp_path):
    compiled = mcuq.compile(zoo / "kws_dscnn" / "model.onnx", kws_data["x_calib"], tmp_path / "kws",
                            verify_data=kws_data["x_test"][:300], verify_labels=kws_data["y_test"][:300],
                            int16_layers="auto")
    chosen = compiled.report["precision"]["int16_layers"]
    assert 2 <= len(chosen) < len(compiled.qmodel.layers)
    assert any(e["reason"].startswith("reads ") for e in chosen)  # readers of a chosen layer follow it
    # All int8 on the same 300 samples gives 26.7 dB (measured); auto must be well above it.
    assert _output_sqnr(compiled) > 32, _output_sqnr(compiled)
    assert compiled.report["verification"]["accuracy"]["int8"] >= 0.90


def test_cli_int16_error_names_the_op(tmp_path):
    from tests.test_cli import mcuq as run_cli

    result = run_cli("compile", DIGITS / "digits_cnn.onnx", "--calib", DIGITS / "calib.npy", "-o", tmp_path / "o",
                     "--int16", "conv1,softmax", "-q")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "'softmax' is a softmax, which has no int16 kernel" in result.stderr
    assert not (tmp_path / "o").exists()  # checked before anything is written


def _logits_model(path):
    """conv -> relu -> flatten -> gemm: the logits are the model output."""
    c, inits = conv("c", "x", "h", 2, 4)
    rng = np.random.default_rng(5)
    inits.update(fw=rng.normal(0, 0.3, (6, 4 * 5 * 5)).astype(np.float32), fb=rng.normal(0, 0.1, 6).astype(np.float32))
    nodes = [c, helper.make_node("Relu", ["h"], ["r"]), helper.make_node("Flatten", ["r"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], name="fc", transB=1)]
    onnx.save(make_model(nodes, [1, 2, 5, 5], inits), path)
    return path


def test_int16_logits_are_an_int16_model_output(tmp_path):
    """The last layer in int16 gives int16 outputs through the whole C API: header, invoke, invoke_f32;
    bit-exact with the golden model and closer to the float model than int8 logits."""
    model = _logits_model(tmp_path / "logits.onnx")
    x = np.random.default_rng(0).normal(0, 1, (64, 2, 5, 5)).astype(np.float32)
    int8 = mcuq.compile(model, x, tmp_path / "a", name="lg")
    mixed = mcuq.compile(model, x, tmp_path / "b", name="lg", int16_layers="outputs")  # = "fc" here
    assert mixed.report["verification"]["c_vs_golden"]["mismatches"] == 0  # compile raises otherwise
    header = (tmp_path / "b" / "lg.h").read_text()
    assert "int lg_invoke(const int8_t *input0, int16_t *output0);" in header
    assert '"y": [1, 6] int16' in header
    t_in = mixed.qmodel.tensors[mixed.qmodel.inputs[0]]
    q = np.random.default_rng(1).integers(-128, 128, size=t_in.shape).astype(np.int8)
    (y,) = mixed.run_int8(q)
    assert y.dtype == np.int16
    np.testing.assert_array_equal(y, golden.run_model(mixed.qmodel, {mixed.qmodel.inputs[0]: q})["y"])
    t_out = mixed.qmodel.tensors["y"]
    (y_f32,) = mixed.host.invoke_f32(quant.dequantize(q, t_in.scale, t_in.zero_point).astype(np.float32))
    np.testing.assert_allclose(y_f32, (y.astype(np.float32) - t_out.zero_point) * np.float32(t_out.scale), rtol=1e-6)
    # The output rounding is gone; what is left comes from the int8 layers before (measured 38.8 -> 40.0 dB).
    assert _output_sqnr(mixed) > _output_sqnr(int8) + 0.5, (_output_sqnr(mixed), _output_sqnr(int8))
