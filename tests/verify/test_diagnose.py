"""The per-layer diagnosis (mcuq.verify.diagnose): its statistics on hand-made cases, and on the bundled digits
model with one layer's range deliberately clipped: that layer shows clipped values and is named first."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mcuq import data, passes, quant
from mcuq.calib import calibrate
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.qir.model import QTensor
from mcuq.verify import diagnose
from tests.helpers.paths import REPO

DIGITS = REPO / "examples" / "digits"


def test_clipped_count_allows_half_a_step():
    t = QTensor("t", (1, 4), 0.5, -128)  # representable [0, 127.5]
    values = np.array([-0.24, -0.26, 127.74, 127.76])
    assert diagnose.clipped_count(values, t) == 2
    assert diagnose.representable_range(t) == (0.0, 127.5)


def test_quantize_real_saturates_to_the_dtype():
    t8 = QTensor("a", (3,), 0.1, 10)
    assert diagnose.quantize_real(np.array([0.05, -0.05, 100.0]), t8).tolist() == [11, 9, 127]
    t16 = QTensor("b", (2,), 0.001, 0, "int16")
    q = diagnose.quantize_real(np.array([1.0, -40.0]), t16)
    assert q.dtype == np.int16 and q.tolist() == [1000, -32768]


def test_added_sqnr_subtracts_noise_powers():
    assert diagnose.added_sqnr_db(20.0, math.inf) == pytest.approx(20.0)
    assert diagnose.added_sqnr_db(20.0 - 10 * math.log10(2), 20.0) == pytest.approx(20.0)
    assert diagnose.added_sqnr_db(30.0, 25.0) is None  # cleaner than its input: nothing measurable added


def test_weight_summary_finds_the_widest_channel():
    w = np.ones((4, 3, 3, 2), dtype=np.float32) * 0.1
    w[2, 0, 0, 0] = -4.0
    s = diagnose.weight_summary(w, channel_axis=0)
    assert s["widest_channel"] == 2 and s["channels"] == 4
    assert s["channel_absmax_max"] == pytest.approx(4.0) and s["spread"] == pytest.approx(40.0)
    assert s["min"] == pytest.approx(-4.0) and s["max"] == pytest.approx(0.1)


def test_hints_name_the_remedies():
    row = dict(name="c1", op="conv", dtype="int8", clipped_share=0.03, observed_range=[0.0, 9.0],
               outlier_ratio=1.0, weights=dict(spread=40.0, widest_channel=5))
    text = " | ".join(diagnose.hints(row, "percentile"))
    assert "clipped on 3 %" in text and "--calib-method minmax" in text
    assert "channel 5 span 40×" in text and "--int16 c1" in text
    row.update(clipped_share=0.0, outlier_ratio=9.0, weights=None, op="softmax")
    assert diagnose.hints(row, "minmax") == [
        "output range set by rare outliers (max |x| is 9× the 99.9th percentile) → try --calib-method percentile"]


@pytest.fixture(scope="module")
def digits():
    graph = passes.optimize(load_onnx(DIGITS / "digits_cnn.onnx"))
    calib = np.load(DIGITS / "calib.npy")
    with np.load(DIGITS / "test.npz") as d:
        x = d["x"]
    shape = data.onnx_input_shape(graph, graph.inputs[0])
    ranges = calibrate(graph, data.prepare_samples(calib, graph, shape))
    return graph, ranges, data.prepare_samples(x[:100], graph, shape)


def test_diagnosis_of_the_digits_model(digits):
    graph, ranges, x = digits
    model = quant.quantize(graph, ranges)
    diag = diagnose.diagnose(graph, model, ranges, x, {}, "minmax")
    rows = diag["layers"]
    assert [r["name"] for r in rows] == [layer.name for layer in model.layers]
    for r in rows:
        assert math.isfinite(r["own_sqnr_db"]) and r["own_sqnr_db"] > 15, r
        lo, hi = r["observed_range"]
        assert lo <= hi and (r["added_sqnr_db"] is None or r["added_sqnr_db"] >= r["own_sqnr_db"] - 1e-9)
        if r["op"] != "softmax":  # softmax's fixed grid ends at 255/256: outputs near 1.0 saturate
            assert 0.0 <= r["clipped_share"] < 0.01, r
    conv1 = rows[0]
    assert conv1["weights"]["channels"] == 16 and conv1["weights"]["spread"] >= 1.0
    assert rows[1]["weights"] is None  # max pool
    assert 1 <= len(diag["offenders"]) <= diagnose.OFFENDERS
    assert all(o["op"] not in ("max_pool", "copy") for o in diag["offenders"])


def test_a_clipped_layer_is_named_first(digits):
    graph, ranges, x = digits
    clipped = dict(ranges)
    lo, hi = ranges["relu2__before_transpose"]
    clipped["relu2__before_transpose"] = (lo, 0.25 * hi)  # conv2's output range cut to a quarter
    model = quant.quantize(graph, clipped)
    diag = diagnose.diagnose(graph, model, clipped, x, {}, "minmax")
    by_name = {r["name"]: r for r in diag["layers"]}
    assert by_name["conv2"]["clipped_share"] > 0.01
    assert by_name["conv2"]["calibrated_range"][1] == pytest.approx(0.25 * hi)
    assert by_name["conv2"]["observed_range"][1] > 2 * by_name["conv2"]["calibrated_range"][1]
    first = diag["offenders"][0]
    assert first["name"] == "conv2"
    assert any("clipped" in h for h in first["hints"])
