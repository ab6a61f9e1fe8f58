"""ONNX GRU and LSTM load into float IR (an ``lstm``/``gru`` node over the batch-first sequence, Y, Y_h and
Y_c as reshapes and slices of its outputs) that computes what ONNX Runtime computes, before and after the
rewrites: forward and reverse, zero and constant initial states, every output. Layout 1 (batch first),
which ONNX Runtime does not run, is checked against onnx.reference. What the int8 kernels do not do is
refused by name."""

from __future__ import annotations

import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from mcuq.errors import McuqError
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.passes import optimize
from tests.frontend.test_frontend import assert_close, assert_matches_ort, build_model, op_counts, random, run_ir

T, F, H = 6, 4, 5
GATES = {"LSTM": 4, "GRU": 3}
OUTPUTS = {"LSTM": ("y", "y_h", "y_c"), "GRU": ("y", "y_h")}


def recurrent_model(op: str, layout: int = 0, initial: bool = False, outputs=None, **attrs):
    """One GRU / LSTM node on x ([T, 1, F], or [1, T, F] with layout 1), weights seeded; torch's GRU form
    (linear_before_reset=1) unless attrs say otherwise."""
    g = GATES[op]
    inits = {"W": random(1, g * H, F, seed=1), "R": random(1, g * H, H, seed=2), "B": random(1, 2 * g * H, seed=3)}
    inputs = ["x", "W", "R", "B", ""]
    if initial:
        inits["h0"] = random(1, 1, H, seed=4, low=-0.8, high=0.8)
        inputs.append("h0")
        if op == "LSTM":
            inits["c0"] = random(1, 1, H, seed=5, low=-2, high=2)
            inputs.append("c0")
    if op == "GRU":
        attrs.setdefault("linear_before_reset", 1)
    outputs = outputs or OUTPUTS[op]
    node = helper.make_node(op, inputs, list(outputs), hidden_size=H, layout=layout, **attrs)
    shape = [1, T, F] if layout else [T, 1, F]
    return build_model([node], {"x": shape}, inits, opset=14, outputs=tuple(o for o in outputs if o))


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse"])
@pytest.mark.parametrize("initial", [False, True])
def test_matches_onnx_runtime(op, direction, initial, tmp_path):
    graph = assert_matches_ort(recurrent_model(op, initial=initial, direction=direction), tmp_path)
    assert op_counts(graph)[op.lower()] == 1


@pytest.mark.parametrize("op", ["GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse"])
def test_batch_first_layout_matches_onnx_reference(op, direction, tmp_path):
    """Layout 1: X [1, T, F] feeds the node without a transpose; Y is [1, T, 1, H]."""
    model = recurrent_model(op, layout=1, initial=True, direction=direction)
    path = tmp_path / "m.onnx"
    import onnx

    onnx.save(model, path)
    x = random(1, T, F, seed=9)
    expected = ReferenceEvaluator(model).run(None, {"x": x})
    graph = optimize(load_onnx(path))
    for actual, reference in zip(run_ir(graph, {"x": x}), expected):
        assert_close(actual, reference)
    assert "transpose" not in op_counts(graph)


def test_only_y_h(tmp_path):
    """A node whose Y is left out: the slice of the last step alone."""
    graph = assert_matches_ort(recurrent_model("GRU", outputs=("", "y_h")), tmp_path)
    assert op_counts(graph)["slice"] == 1


@pytest.mark.parametrize("op, attrs, words", [
    ("GRU", dict(direction="bidirectional"), "direction='bidirectional'"),
    ("LSTM", dict(clip=3.0), "clip=3.0"),
    ("GRU", dict(activations=["Sigmoid", "Relu"]), "only the default"),
    ("GRU", dict(linear_before_reset=0), "linear_before_reset=0"),
    ("LSTM", dict(input_forget=1), "input_forget=1"),
])
def test_refusals_name_the_attribute(op, attrs, words, tmp_path):
    path = tmp_path / "m.onnx"
    import onnx

    onnx.save(recurrent_model(op, **attrs), path)
    with pytest.raises(McuqError, match=words.replace("(", r"\(").replace("[", r"\[")):
        load_onnx(path)
