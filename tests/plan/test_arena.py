"""The arena of the generated C, end to end on a small residual and depthwise-separable model:
layers run in place, the C equals the golden model in an arena of exactly ARENA_SIZE random bytes,
and a plan that lets live data overlap would be caught by that check."""

from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq.qir.model import QOp
from tests.helpers.arena_checks import check_poisoned_arena, int8_sample, plan_mismatches
from tests.helpers.small_models import conv, make_model


def _residual_dscnn():
    """conv 3x3 -> relu -> [conv 3x3 -> relu -> conv 3x3] + shortcut -> relu -> depthwise 3x3 ->
    relu -> pointwise -> relu -> global pool -> flatten -> gemm -> softmax."""
    c = 8
    stem, i0 = conv("stem", "x", "s", 3, c)
    a, ia = conv("a", "s_r", "h", c, c)
    b, ib = conv("b", "h_r", "r", c, c)
    dw, idw = conv("dw", "sum_r", "d", c, c, group=c)
    pw, ipw = conv("pw", "d_r", "p", c, c, k=1, pads=[0, 0, 0, 0])
    relu = [helper.make_node("Relu", [t], [f"{t}_r"]) for t in ("s", "h", "sum", "d", "p")]
    nodes = [stem, relu[0], a, relu[1], b, helper.make_node("Add", ["r", "s_r"], ["sum"]), relu[2], dw, relu[3],
             pw, relu[4], helper.make_node("GlobalAveragePool", ["p_r"], ["g"]),
             helper.make_node("Flatten", ["g"], ["f"]), helper.make_node("Gemm", ["f", "fw", "fb"], ["z"], transB=1),
             helper.make_node("Softmax", ["z"], ["y"])]
    rng = np.random.default_rng(11)
    inits = {**i0, **ia, **ib, **idw, **ipw, "fw": rng.normal(0, 0.3, (5, c)).astype(np.float32),
             "fb": np.zeros(5, np.float32)}
    return make_model(nodes, [1, 3, 10, 12], inits)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    out = tmp_path_factory.mktemp("arena")
    onnx.save(_residual_dscnn(), out / "m.onnx")
    samples = np.random.default_rng(2).normal(0, 1, size=(40, 3, 10, 12)).astype(np.float32)
    # Plain min-max ranges: the test is about where bytes live, not about the calibration.
    return mcuq.compile(out / "m.onnx", samples, out / "c", name="resdw", calib_method="minmax",
                        bias_correction=False)


def test_layers_run_in_place(compiled):
    plan, layers = compiled.plan, compiled.qmodel.layers
    ops = {layers[i].op for i, layer in enumerate(layers) if layer.output in plan.inplace}
    assert {QOp.CONV, QOp.DEPTHWISE_CONV, QOp.ADD, QOp.AVG_POOL, QOp.COPY, QOp.SOFTMAX} <= ops
    # 3x3 "same" convs over 10x12x8: the output leads its input by one row and one pixel.
    assert -(12 + 1) * 8 in {shift for _, shift in plan.inplace.values()}
    assert plan.lower_bound <= plan.size


def test_poisoned_arena_of_exactly_arena_size(compiled):
    for seed in range(3):
        check_poisoned_arena(compiled, int8_sample(compiled, seed))


def test_a_plan_that_overlaps_live_data_is_caught(compiled, tmp_path):
    plan, model = compiled.plan, compiled.qmodel
    # An in-place conv given one pixel less lead than its kernel needs.
    out = next(o for o, (_, shift) in plan.inplace.items() if shift < 0)
    channels = model.tensors[out].shape[-1]
    short_lead = dataclasses.replace(plan, offsets={**plan.offsets, out: plan.offsets[out] + channels})
    assert plan_mismatches(compiled, short_lead, tmp_path / "a") > 0
    # The shortcut, alive across the residual branch, moved onto the branch's first conv output.
    shortcut = next(layer for layer in model.layers if layer.op is QOp.ADD).inputs[1]
    branch = next(layer.output for layer in model.layers if shortcut in layer.inputs)
    clash = dataclasses.replace(plan, offsets={**plan.offsets, branch: plan.offsets[shortcut]})
    assert plan_mismatches(compiled, clash, tmp_path / "b") > 0


def test_report_draws_the_arena(compiled):
    from xml.etree import ElementTree

    from mcuq.report import memory_svg

    out = compiled.c_path.parent
    memory = compiled.report["memory"]
    assert memory["arena_bytes"] == compiled.arena_size
    # Bytes alive per step, read off the placement itself: the peak is the planner's lower bound.
    assert max(memory["live_bytes"]) == memory["lower_bound"] == compiled.plan.lower_bound
    assert len(memory["live_bytes"]) == len(compiled.qmodel.layers) + 2
    svg = (out / "memory.svg").read_text()
    ns = "{http://www.w3.org/2000/svg}"
    rects = [r for r in ElementTree.fromstring(svg).iter(f"{ns}rect") if r.find(f"{ns}title") is not None]
    assert len(rects) == len(memory["buffers"]) == len(compiled.plan.buffers)
    scale = (memory_svg.HEIGHT - memory_svg.TOP - memory_svg.BOTTOM) / compiled.arena_size
    for rect, buf in zip(rects, memory["buffers"]):
        assert buf["name"] in rect.find(f"{ns}title").text
        assert abs(float(rect.get("height")) - max(buf["size"] * scale, 0.5)) < 0.06
        bottom = float(rect.get("y")) + float(rect.get("height"))
        assert abs(bottom - (memory_svg.HEIGHT - memory_svg.BOTTOM - buf["offset"] * scale)) < 0.1
    assert f"arena {compiled.arena_size:,} B, lower bound {compiled.plan.lower_bound:,} B" in svg
    assert "](memory.svg)" in (out / "report.md").read_text()
