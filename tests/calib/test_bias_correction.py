"""Bias correction: the mean output shift that weight rounding causes is measured and removed."""

import math

import numpy as np

from mcuq.calib.bias_correction import correct_biases, weight_error
from mcuq.ir import float_exec
from mcuq.ir.graph import Graph, Node, Tensor


def _conv_fc_graph(seed=0):
    """x -> conv 3x3 (+ReLU) -> reshape -> fc -> y. Each conv channel has one large weight, so its
    int8 step is coarse and the many small weights round with a visible, systematic error. No padding:
    the shift is then the same at every position, which a per-channel bias can take away."""
    rng = np.random.default_rng(seed)
    cw = rng.normal(scale=0.05, size=(6, 3, 3, 2)).astype(np.float32)
    cw[:, 1, 1, 0] = 3.0
    fw = rng.normal(size=(5, 2 * 2 * 6)).astype(np.float32)
    t = {
        "x": Tensor("x", (1, 4, 4, 2)),
        "cw": Tensor("cw", cw.shape, cw),
        "cb": Tensor("cb", (6,), np.zeros(6, np.float32)),
        "c": Tensor("c", (1, 2, 2, 6)),
        "r": Tensor("r", (1, 24)),
        "fw": Tensor("fw", fw.shape, fw),
        "fb": Tensor("fb", (5,), np.zeros(5, np.float32)),
        "y": Tensor("y", (1, 5)),
    }
    nodes = [
        Node("conv2d", "conv", ("x", "cw", "cb"), ("c",),
             dict(strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1, act_min=0.0, act_max=math.inf)),
        Node("reshape", "flat", ("c",), ("r",), dict(shape=(1, 24))),
        Node("fully_connected", "fc", ("r", "fw", "fb"), ("y",), {}),
    ]
    return Graph(t, nodes, ["x"], ["y"])


def _with_int8_weights(graph):
    """The graph with every weight replaced by its int8 value (what the lowering stores), in float."""
    g = graph.copy()
    for node in g.nodes:
        if node.op in ("conv2d", "fully_connected"):
            w = g.const(node.inputs[1])
            g.tensors[node.inputs[1]] = Tensor(node.inputs[1], w.shape, (w - weight_error(w, 0)).astype(np.float32))
    return g


def _inputs(n, seed):
    # Inputs with a non-zero mean (as after a ReLU): the weight error does not average out.
    return np.random.default_rng(seed).uniform(0.0, 2.0, size=(n, 4, 4, 2)).astype(np.float32)


def test_bias_correction_removes_the_mean_output_error():
    graph = _conv_fc_graph()
    calib, held_out = _inputs(400, 1), _inputs(400, 2)
    reference = float_exec.run(graph, {"x": held_out})
    plain = float_exec.run(_with_int8_weights(graph), {"x": held_out})
    corrected = float_exec.run(_with_int8_weights(correct_biases(graph, calib)), {"x": held_out})
    for name in ("c", "y"):
        shift_before = np.abs((plain[name] - reference[name]).reshape(-1, reference[name].shape[-1]).mean(0))
        shift_after = np.abs((corrected[name] - reference[name]).reshape(-1, reference[name].shape[-1]).mean(0))
        assert shift_after.mean() < 0.3 * shift_before.mean(), (name, shift_before, shift_after)
    # The total error falls too (the shift was a large part of it).
    mse_before = np.mean((plain["y"] - reference["y"]) ** 2)
    mse_after = np.mean((corrected["y"] - reference["y"]) ** 2)
    assert mse_after < mse_before


def test_bias_correction_changes_only_biases():
    graph = _conv_fc_graph()
    corrected = correct_biases(graph, _inputs(64, 3))
    for before, after in zip(graph.nodes, corrected.nodes):
        if before.op == "reshape":
            assert after == before
            continue
        assert after.inputs[:2] == before.inputs[:2] and after.attrs == before.attrs
        assert after.inputs[2] != before.inputs[2]
    assert "cb" not in corrected.tensors and "fb" not in corrected.tensors  # replaced, not kept


def test_weight_error_is_what_int8_rounding_removes():
    w = np.array([[0.5, -1.27, 0.004]], np.float32)  # scale 0.01: 0.004 rounds to 0
    np.testing.assert_allclose(weight_error(w, 0), [[0.0, 0.0, 0.004]], atol=1e-7)
