"""`auto` calibration: the per-tensor choice follows the error downstream, not the tensor's own."""

import math

import numpy as np

from mcuq.calib import calibrate
from mcuq.calib.auto import calibrate_auto, probe
from mcuq.ir.graph import Graph, Node, Tensor


def _fc_graph(weights):
    w = np.asarray(weights, np.float32)
    tensors = {
        "x": Tensor("x", (1, w.shape[1])),
        "w": Tensor("w", w.shape, w),
        "b": Tensor("b", (w.shape[0],), np.zeros(w.shape[0], np.float32)),
        "y": Tensor("y", (1, w.shape[0])),
    }
    return Graph(tensors, [Node("fully_connected", "fc", ("x", "w", "b"), ("y",), {})], ["x"], ["y"])


def _bulk_and_rare_spikes():
    """Channel 0: a unit Gaussian. Channel 1: zero but for 10 in 10,000 samples at 40."""
    rng = np.random.default_rng(0)
    x = np.zeros((10_000, 2), np.float32)
    x[:, 0] = rng.normal(size=len(x))
    x[rng.choice(len(x), 10, replace=False), 1] = 40.0
    return x


def test_auto_clips_what_the_next_layer_ignores_and_keeps_what_it_reads():
    x = _bulk_and_rare_spikes()
    # The same input distribution; only what the next layer reads differs.
    reads_bulk = calibrate_auto(_fc_graph([[1.0, 0.0]]), x)
    reads_spikes = calibrate_auto(_fc_graph([[0.01, 1.0]]), x)
    assert reads_bulk.ranges["x"][1] < 10.0, reads_bulk.ranges["x"]
    assert reads_spikes.ranges["x"][1] == 40.0, reads_spikes.ranges["x"]
    for result in (reads_bulk, reads_spikes):
        chosen = result.choices["x"]
        assert result.scores["x"][chosen] == min(result.scores["x"].values())


def test_auto_through_calibrate_returns_every_tensor():
    x = _bulk_and_rare_spikes()[:2000]
    ranges = calibrate(_fc_graph([[1.0, 0.0]]), x, "auto")
    assert set(ranges) == {"x", "y"}
    assert all(lo <= 0.0 <= hi and math.isfinite(hi) for lo, hi in ranges.values())


def _chain_graph():
    """x -> conv -> max_pool -> reshape -> fc -> softmax: the pool and reshape pass the conv output on."""
    rng = np.random.default_rng(1)
    t = {
        "x": Tensor("x", (1, 4, 4, 1)),
        "cw": Tensor("cw", (2, 1, 1, 1), rng.normal(size=(2, 1, 1, 1)).astype(np.float32)),
        "cb": Tensor("cb", (2,), np.zeros(2, np.float32)),
        "c": Tensor("c", (1, 4, 4, 2)),
        "p": Tensor("p", (1, 2, 2, 2)),
        "r": Tensor("r", (1, 8)),
        "fw": Tensor("fw", (3, 8), rng.normal(size=(3, 8)).astype(np.float32)),
        "fb": Tensor("fb", (3,), np.zeros(3, np.float32)),
        "f": Tensor("f", (1, 3)),
        "s": Tensor("s", (1, 3)),
    }
    conv = dict(strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1, act_min=0.0, act_max=math.inf)
    nodes = [
        Node("conv2d", "conv", ("x", "cw", "cb"), ("c",), conv),
        Node("max_pool", "pool", ("c",), ("p",), dict(kernel=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0))),
        Node("reshape", "flat", ("p",), ("r",), dict(shape=(1, 8))),
        Node("fully_connected", "fc", ("r", "fw", "fb"), ("f",), {}),
        Node("softmax", "sm", ("f",), ("s",), {}),
    ]
    return Graph(t, nodes, ["x"], ["s"])


def test_probe_next_follows_value_moving_ops_to_the_first_computing_one():
    graph = _chain_graph()
    p = probe(graph, "c", "next")
    assert [n.name for n in p.nodes] == ["pool", "flat", "fc"] and p.measured == ("f",)
    assert probe(graph, "f", "next").measured == ("s",)
    assert probe(graph, "x", "next").measured == ("c",)


def test_probe_output_runs_everything_downstream_and_measures_the_model_output():
    graph = _chain_graph()
    p = probe(graph, "x", "output")
    assert [n.name for n in p.nodes] == ["conv", "pool", "flat", "fc", "sm"] and p.measured == ("s",)
    assert probe(graph, "s", "output").measured == ("s",)  # an output nothing reads: itself


def test_auto_chooses_only_for_tensors_whose_range_is_used():
    graph = _chain_graph()
    x = np.random.default_rng(2).normal(size=(100, 4, 4, 1)).astype(np.float32)
    result = calibrate_auto(graph, x)
    assert set(result.choices) == {"x", "c", "f"}  # pool, reshape and softmax outputs are not calibrated
    assert set(result.ranges) == {"x", "c", "p", "r", "f", "s"}
