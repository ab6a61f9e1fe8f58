"""Cross-layer equalization: exact in float, balanced per-channel weight ranges, clipped pairs left alone."""

import math

import numpy as np
import pytest

from mcuq import passes
from mcuq.calib.equalize import channel_ranges, equalize
from mcuq.ir import float_exec
from mcuq.ir.graph import Graph, Node, Tensor

CONV = dict(strides=(1, 1), dilations=(1, 1), pads=(1, 1, 1, 1))


def _separable_graph(act_max=math.inf, channels=8, seed=0):
    """x -> depthwise 3x3 (+ReLU or ReLU6) -> pointwise 1x1 (+ReLU) -> y, with per-channel weight
    ranges spread over three orders of magnitude (as BatchNorm folding leaves them)."""
    rng = np.random.default_rng(seed)
    spread = np.logspace(-2, 1, channels).astype(np.float32)
    dw_w = (rng.normal(size=(1, 3, 3, channels)) * spread).astype(np.float32)
    pw_w = rng.normal(size=(4, 1, 1, channels)).astype(np.float32)
    t = {
        "x": Tensor("x", (1, 6, 6, channels)),
        "dw_w": Tensor("dw_w", dw_w.shape, dw_w),
        "dw_b": Tensor("dw_b", (channels,), rng.normal(size=channels).astype(np.float32) * spread),
        "h": Tensor("h", (1, 6, 6, channels)),
        "pw_w": Tensor("pw_w", pw_w.shape, pw_w),
        "pw_b": Tensor("pw_b", (4,), rng.normal(size=4).astype(np.float32)),
        "y": Tensor("y", (1, 6, 6, 4)),
    }
    nodes = [
        Node("depthwise_conv2d", "dw", ("x", "dw_w", "dw_b"), ("h",),
             dict(CONV, depth_multiplier=1, act_min=0.0, act_max=act_max)),
        Node("conv2d", "pw", ("h", "pw_w", "pw_b"), ("y",),
             dict(strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1, act_min=0.0, act_max=math.inf)),
    ]
    return Graph(t, nodes, ["x"], ["y"])


def _outputs(graph, x):
    return float_exec.run(graph, {graph.inputs[0]: x})[graph.outputs[0]]


def test_equalization_is_exact_in_float_and_balances_the_ranges():
    graph = _separable_graph()
    result = equalize(graph)
    assert result.pairs == [("dw", "pw")] and not result.skipped
    x = np.random.default_rng(1).normal(size=(16, 6, 6, 8)).astype(np.float32)
    before, after = _outputs(graph, x), _outputs(result.graph, x)
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5 * np.abs(before).max())
    dw, pw = result.graph.nodes
    r1 = channel_ranges(result.graph.const(dw.inputs[1]), 3)
    r2 = channel_ranges(result.graph.const(pw.inputs[1]), 3)
    np.testing.assert_allclose(r1, r2, rtol=1e-5)
    # Before: the depthwise ranges spanned 1000x; after, the spread is the geometric mean's.
    r1_before = channel_ranges(graph.const("dw_w"), 3)
    assert r1.max() / r1.min() < (r1_before.max() / r1_before.min()) ** 0.75
    assert graph.const("dw_w") is not None and graph.nodes[0].inputs[1] == "dw_w"  # input untouched


def test_relu6_pair_is_skipped_with_the_reason():
    graph = _separable_graph(act_max=6.0)
    result = equalize(graph)
    assert result.pairs == [] and result.graph is graph
    (reason,) = result.skipped
    assert "dw -> pw" in reason and "ReLU6" in reason


def test_shared_middle_tensor_is_not_equalized():
    graph = _separable_graph()
    graph.outputs.append("h")  # the depthwise output is also a model output: scaling would show
    assert equalize(graph).pairs == []


def test_kws_float_outputs_do_not_change(zoo, kws_data):
    from mcuq.frontend.onnx_loader import load_onnx

    graph = passes.optimize(load_onnx(zoo / "kws_dscnn" / "model.onnx"))
    result = equalize(graph)
    # conv -> dw -> pw -> dw -> ... : every consecutive pair of the DS-CNN is a ReLU pair.
    assert len(result.pairs) == 8 and not result.skipped
    x = kws_data["x_test"][:64]
    before = float_exec.run(graph, {graph.inputs[0]: x})
    after = float_exec.run(result.graph, {graph.inputs[0]: x})
    logits = graph.nodes[-1].inputs[0]
    scale = np.abs(before[logits]).max()
    assert np.abs(after[logits] - before[logits]).max() < 1e-5 * scale
    np.testing.assert_allclose(after[graph.outputs[0]], before[graph.outputs[0]], atol=1e-6)


@pytest.mark.parametrize("seed", [2, 3])
def test_equalization_is_idempotent(seed):
    once = equalize(_separable_graph(seed=seed)).graph
    twice = equalize(once)
    dw, pw = twice.graph.nodes
    np.testing.assert_allclose(twice.graph.const(dw.inputs[1]), once.const(once.nodes[0].inputs[1]), rtol=1e-4)
    assert twice.rounds <= 2
