"""Values the quantized model must hold but its quantization could not: a Pad constant outside its
input's range, a Clip after a MaxPool whose bounds lie outside the pool's range. Each small graph is
compiled by mcuq and quantized by ONNX Runtime's ``quantize_static`` (QDQ, per-channel, MinMax) on the
same calibration data; mcuq's output SQNR against the float model (ONNX Runtime) must be within 3 dB of
ONNX Runtime's own int8 model's. Before the fix (issue 11) mcuq clamped the pad value and dropped the
clip silently: 1-14 dB where ONNX Runtime gets 46-52 dB.

And when the output SQNR falls below `diagnose.LOW_SQNR_DB` anyway, the compile says so: a warning
(report["warnings"], ``warning:`` lines on stderr from the CLI) that names the layer where it falls,
a layer the report's "where the error comes from" list names too."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import mcuq
import mcuq.calib
import mcuq.frontend.onnx_loader
import mcuq.passes
import mcuq.quant
from mcuq import cli
from mcuq.verify import diagnose
from tests.helpers.qdq_models import QdqBuilder

ort = pytest.importorskip("onnxruntime")
from onnxruntime.quantization import (  # noqa: E402
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)

SHAPE = (1, 4, 8, 8)
PAD_VALUE = -0.62  # outside the input's [-0.38, 0.36]
CLIP_BOUNDS = (1.5, 6.0)  # above it
CALIB, VERIFY = 64, 64
ORT_MARGIN_DB = 3.0


def _model(nodes, inits, out_shape, name="silent") -> onnx.ModelProto:
    graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(SHAPE))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, list(out_shape))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model, full_check=True)
    return model


def _pad(x: str, y: str) -> tuple[list, list]:
    """Pad H and W by one on each side with PAD_VALUE (opset 13: pads and value are inputs)."""
    inits = [numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), f"{y}_pads"),
             numpy_helper.from_array(np.array(PAD_VALUE, np.float32), f"{y}_value")]
    return [helper.make_node("Pad", [x, f"{y}_pads", f"{y}_value"], [y], name=f"pad_{y}", mode="constant")], inits


def _conv(x: str, y: str, rng, channels: int = 4) -> tuple[list, list]:
    w = (rng.standard_normal((channels, SHAPE[1], 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(channels) * 0.1).astype(np.float32)
    inits = [numpy_helper.from_array(w, f"{y}_w"), numpy_helper.from_array(b, f"{y}_b")]
    return [helper.make_node("Conv", [x, f"{y}_w", f"{y}_b"], [y], name=f"conv_{y}", pads=[1, 1, 1, 1])], inits


def _max_pool(x: str, y: str) -> list:
    return [helper.make_node("MaxPool", [x], [y], name=f"pool_{y}", kernel_shape=[2, 2], strides=[2, 2])]


def _clip(x: str, y: str, low: float, high: float) -> tuple[list, list]:
    inits = [numpy_helper.from_array(np.array(low, np.float32), f"{y}_min"),
             numpy_helper.from_array(np.array(high, np.float32), f"{y}_max")]
    return [helper.make_node("Clip", [x, f"{y}_min", f"{y}_max"], [y], name=f"clip_{y}")], inits


def pad_alone(rng) -> onnx.ModelProto:
    nodes, inits = _pad("x", "y")
    return _model(nodes, inits, (1, 4, 10, 10))


def pad_after_max_pool(rng) -> onnx.ModelProto:
    nodes, inits = _pad("p", "y")
    return _model(_max_pool("x", "p") + nodes, inits, (1, 4, 6, 6))


def pad_before_conv(rng) -> onnx.ModelProto:
    pad_nodes, pad_inits = _pad("x", "p")
    conv_nodes, conv_inits = _conv("p", "y", rng)
    return _model(pad_nodes + conv_nodes, pad_inits + conv_inits, (1, 4, 10, 10))


def clip_after_max_pool(rng) -> onnx.ModelProto:
    """MaxPool → Clip(CLIP_BOUNDS): the clip's lower bound lies above the pool's whole range."""
    nodes, inits = _clip("p", "y", *CLIP_BOUNDS)
    return _model(_max_pool("x", "p") + nodes, inits, (1, 4, 4, 4))


def clip_after_transpose(rng) -> onnx.ModelProto:
    """Control: the same clip after a Transpose (pushed below the clip, which stays a real op)."""
    nodes, inits = _clip("t", "y", *CLIP_BOUNDS)
    transpose = [helper.make_node("Transpose", ["x"], ["t"], name="transpose_t", perm=[0, 1, 3, 2])]
    return _model(transpose + nodes, inits, SHAPE)


def clip_after_conv(rng) -> onnx.ModelProto:
    """Control: the same clip fused into a Conv (output about [-1, 1]), whose output quantization is its own."""
    conv_nodes, conv_inits = _conv("x", "c", rng)
    clip_nodes, clip_inits = _clip("c", "y", *CLIP_BOUNDS)
    return _model(conv_nodes + clip_nodes, conv_inits + clip_inits, SHAPE)


CASES = {
    "pad_alone": pad_alone,
    "pad_after_max_pool": pad_after_max_pool,
    "pad_before_conv": pad_before_conv,
    "clip_after_max_pool": clip_after_max_pool,
    "clip_after_transpose": clip_after_transpose,
    "clip_after_conv": clip_after_conv,
}


def case_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Calibration and verification samples in [-0.38, 0.36] (the issue's input range)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-0.38, 0.36, (CALIB + VERIFY, *SHAPE[1:])).astype(np.float32)
    return x[:CALIB], x[CALIB:]


class _Reader(CalibrationDataReader):
    def __init__(self, samples):
        self.samples = iter([{"x": s[None]} for s in samples])

    def get_next(self):
        return next(self.samples, None)


def _run(path, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run(None, {"x": s[None]})[0] for s in x])


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """10 log10(signal energy / noise energy); inf when the two are equal."""
    ref = reference.astype(np.float64)
    noise = np.sum((ref - test.astype(np.float64)) ** 2)
    return float("inf") if noise == 0 else float(10 * np.log10(np.sum(ref**2) / noise))


def measure(case: str, folder, seed: int = 0) -> dict:
    """Output SQNR against the float model (ONNX Runtime) of mcuq's C and of ONNX Runtime's
    quantize_static QDQ model, on the same calibration and verification data."""
    calib, verify = case_data(seed)
    float_path, qdq_path = folder / f"{case}.onnx", folder / f"{case}_qdq.onnx"
    onnx.save(CASES[case](np.random.default_rng(seed + 1)), float_path)
    quantize_static(str(float_path), str(qdq_path), _Reader(calib), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    reference = _run(float_path, verify)
    compiled = mcuq.compile(float_path, calib, folder / case, verify_data=verify, force=True)
    ours = compiled.run(verify).reshape(reference.shape)
    return dict(mcuq=sqnr_db(reference, ours), ort=sqnr_db(reference, _run(qdq_path, verify)),
                max_abs_error=float(np.max(np.abs(reference - ours))), report=compiled.report)


@pytest.mark.parametrize("case", sorted(CASES))
def test_within_3_db_of_onnx_runtime(case, tmp_path):
    m = measure(case, tmp_path)
    assert m["report"]["verification"]["c_vs_golden"]["mismatches"] == 0
    assert m["mcuq"] >= m["ort"] - ORT_MARGIN_DB, (case, m["mcuq"], m["ort"])
    assert m["mcuq"] >= 35.0, (case, m["mcuq"])  # ONNX Runtime's clip after a conv is no benchmark: 0.7 dB


def test_pad_value_outside_a_fixed_input_quantization(tmp_path):
    """A pre-quantized model fixes the Pad input's quantization to [-0.38, 0.36] and its output's to
    [-0.62, 0.36]: the input cannot be widened, so a table requantizes it into the output's
    quantization before the pad. mcuq's C against ONNX Runtime running the same QDQ file: 1 LSB at most."""
    b = QdqBuilder()
    x_scale, x_zp = mcuq.quant.activation_qparams(-0.38, 0.36)
    y_scale, y_zp = mcuq.quant.activation_qparams(PAD_VALUE, 0.36)
    x = b.fake_quant("x", x_scale, x_zp, "x_dq")
    pads = b.const("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64))
    value = b.const("value", np.array(PAD_VALUE, np.float32))
    b.node("Pad", [x, pads, value], "p", name="the_pad", mode="constant")
    b.fake_quant("p", y_scale, y_zp, "y")
    onnx.save(b.model_xy(list(SHAPE), [1, 4, 10, 10]), tmp_path / "qdq.onnx")
    _, verify = case_data()

    compiled = mcuq.compile(tmp_path / "qdq.onnx", None, tmp_path / "out", verify_data=verify)
    assert [layer.op.value for layer in compiled.qmodel.layers] == ["lut", "pad"]
    lsb = np.abs(compiled.run(verify) - _run(tmp_path / "qdq.onnx", verify)) / np.float32(y_scale)
    assert np.max(lsb) <= 1.0 + 1e-3
    assert np.isclose(compiled.run(verify)[0, :, 0, 0], PAD_VALUE, atol=y_scale / 2).all()


def _bad_layer_model() -> onnx.ModelProto:
    """Conv "stem" (1×1, the identity) → Conv "bad" (1×1: channel 3 times 20, the others as they
    are) → Conv "head" (3×3). Calibrated on samples whose channel 3 is nearly zero, "bad"'s output
    range misses what channel 3 brings on the verification samples: its output saturates there."""
    rng = np.random.default_rng(3)
    scale = np.array([1.0, 1.0, 1.0, 20.0], np.float32)
    inits = [numpy_helper.from_array(np.eye(4, dtype=np.float32).reshape(4, 4, 1, 1), "w_stem"),
             numpy_helper.from_array(np.diag(scale).reshape(4, 4, 1, 1), "w_bad"),
             numpy_helper.from_array((rng.standard_normal((4, 4, 3, 3)) * 0.3).astype(np.float32), "w_head")]
    nodes = [helper.make_node("Conv", ["x", "w_stem"], ["s"], name="stem"),
             helper.make_node("Conv", ["s", "w_bad"], ["b"], name="bad"),
             helper.make_node("Conv", ["b", "w_head"], ["y"], name="head", pads=[1, 1, 1, 1])]
    return _model(nodes, inits, SHAPE, name="bad_layer")


def _bad_layer_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(4)
    calib = rng.uniform(-1, 1, (CALIB, *SHAPE[1:])).astype(np.float32)
    calib[:, 3] *= 0.01
    return calib, rng.uniform(-1, 1, (VERIFY, *SHAPE[1:])).astype(np.float32)


def test_a_low_output_sqnr_warns_naming_the_layer_where_it_falls(tmp_path, capsys):
    onnx.save(_bad_layer_model(), tmp_path / "bad.onnx")
    calib, verify = _bad_layer_data()
    np.save(tmp_path / "calib.npy", calib)
    np.save(tmp_path / "verify.npy", verify)

    assert cli.main(["compile", str(tmp_path / "bad.onnx"), "--calib", str(tmp_path / "calib.npy"), "--verify-data",
                     str(tmp_path / "verify.npy"), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    stderr = capsys.readouterr().err
    warnings = [line for line in stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "'bad' (conv)" in warnings[0] and f"{diagnose.LOW_SQNR_DB:g} dB" in warnings[0]

    report = json.loads((tmp_path / "out" / "report.json").read_text())
    (metrics,) = report["verification"]["float_metrics"]
    assert metrics["sqnr_db"] < diagnose.LOW_SQNR_DB
    assert report["warnings"] == [warnings[0].removeprefix("warning: ")]
    rows = {r["name"]: r for r in report["diagnosis"]["layers"]}
    assert rows["stem"]["sqnr_db"] >= diagnose.LOW_SQNR_DB > rows["bad"]["sqnr_db"]
    named = [o for o in report["diagnosis"]["offenders"] if o["falls_below_db"] is not None]
    assert [o["name"] for o in named] == ["bad"]
    markdown = (tmp_path / "out" / "report.md").read_text()
    assert "**Warning**: output 'y'" in markdown and "falls below 20 dB here" in markdown


def test_no_warning_when_the_output_sqnr_is_high(tmp_path):
    calib, verify = _bad_layer_data()
    onnx.save(_bad_layer_model(), tmp_path / "bad.onnx")
    compiled = mcuq.compile(tmp_path / "bad.onnx", verify, tmp_path / "out", verify_data=verify)
    assert compiled.report["verification"]["float_metrics"][0]["sqnr_db"] >= diagnose.LOW_SQNR_DB
    assert compiled.report["warnings"] == []
    assert all(o["falls_below_db"] is None for o in compiled.report["diagnosis"]["offenders"])


def test_a_pass_through_layer_where_the_sqnr_falls_is_named(tmp_path):
    """A pass-through layer (never an offender by the noise it adds) is named when the output's SQNR
    falls there: as a pad whose value the input's grid clamped did before the fix (9 dB at the pad)."""
    graph = mcuq.passes.optimize(load_onnx_model(pad_after_max_pool(None), tmp_path))
    calib, _ = case_data()
    model = mcuq.quant.quantize(graph, mcuq.calib.calibrate(graph, calib.transpose(0, 2, 3, 1)))
    assert [layer.op.value for layer in model.layers] == ["max_pool", "pad"]

    def row(index, sqnr, added):
        layer = model.layers[index]
        return dict(index=index, name=layer.name, op=layer.op.value, own_sqnr_db=sqnr, input_sqnr_db=None,
                    added_sqnr_db=added, sqnr_db=sqnr, clipped_share=0.0, outlier_ratio=1.0, weights=None,
                    dtype="int8")

    rows = [row(0, 45.0, None), row(1, 9.0, None)]
    (low,) = diagnose.low_sqnr_warnings(model, rows, [dict(name="y", sqnr_db=9.0)])
    assert (low["index"], low["name"], low["op"]) == (1, "pad_y", "pad") and "'pad_y' (pad)" in low["message"]
    assert [o["name"] for o in diagnose.offenders(rows, "minmax", falls=(low,))] == ["pad_y"]
    assert diagnose.low_sqnr_warnings(model, rows, [dict(name="y", sqnr_db=20.0)]) == []


def load_onnx_model(model: onnx.ModelProto, folder):
    onnx.save(model, folder / "model.onnx")
    return mcuq.frontend.onnx_loader.load_onnx(folder / "model.onnx")


def test_the_range_a_pad_shares_is_widened_at_its_source(tmp_path):
    """Conv → MaxPool → Pad: the pad value must be held by the conv's output quantization, which the
    pool and the pad share; a range the model file fixes is left alone."""
    conv_nodes, conv_inits = _conv("x", "c", np.random.default_rng(0))
    pad_nodes, pad_inits = _pad("p", "y")
    model = _model(conv_nodes + _max_pool("c", "p") + pad_nodes, conv_inits + pad_inits, (1, 4, 6, 6))
    graph = mcuq.passes.optimize(load_onnx_model(model, tmp_path))
    conv_out = graph.nodes[0].outputs[0]
    ranges = {name: (-0.1, 0.2) for name in (*graph.inputs, *(n.outputs[0] for n in graph.nodes))}

    held = mcuq.quant.ranges_holding_constants(graph, ranges, {})
    value = float(np.float32(PAD_VALUE))  # as the model file stores it
    assert held[conv_out] == (value, 0.2) and held[graph.outputs[0]] == (value, 0.2)
    assert held[graph.inputs[0]] == (-0.1, 0.2)
    fixed = mcuq.quant.ranges_holding_constants(graph, ranges, {conv_out: (0.01, 0)})
    assert fixed[conv_out] == (-0.1, 0.2)
