"""`auto` calibration's probe depth bound: deep models' probes stop after a few computing ops, so their
cost stays a fixed number of float passes; shallow models (the shared ones) keep their whole-graph probes
and so their choices."""

import math

import numpy as np
import pytest

from mcuq import passes
from mcuq.calib import auto
from mcuq.calib.auto import bounded_probe, downstream_depths, probe, probe_bound, range_tensors
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.ir.graph import Graph, Node, Tensor
from tests.calib.test_auto_calib import _chain_graph

CONV = dict(strides=(1, 1), dilations=(1, 1), pads=(0, 0, 0, 0), groups=1, act_min=0.0, act_max=math.inf)


def _residual_graph(blocks: int) -> Graph:
    """x -> ``blocks`` x (two 1x1 convs, added to the block's input) -> y."""
    rng = np.random.default_rng(3)
    tensors = {"x": Tensor("x", (1, 4, 4, 2))}
    nodes, current = [], "x"
    for i in range(blocks):
        first, second, added = f"a{i}", f"b{i}", f"s{i}"
        for name, source in ((first, current), (second, first)):
            tensors[name + "w"] = Tensor(name + "w", (2, 1, 1, 2), rng.normal(size=(2, 1, 1, 2)).astype(np.float32))
            tensors[name + "b"] = Tensor(name + "b", (2,), np.zeros(2, np.float32))
            tensors[name] = Tensor(name, (1, 4, 4, 2))
            nodes.append(Node("conv2d", "conv_" + name, (source, name + "w", name + "b"), (name,), CONV))
        tensors[added] = Tensor(added, (1, 4, 4, 2))
        nodes.append(Node("add", "add_" + added, (current, second), (added,), {"act_min": -math.inf,
                                                                             "act_max": math.inf}))
        current = added
    return Graph(tensors, nodes, ["x"], [current])


def test_depth_counts_computing_ops_on_the_shortest_path():
    graph = _chain_graph()  # conv -> max_pool -> reshape -> fc -> softmax
    depths = {node.name: downstream_depths(graph, "x")[id(node)] for node in graph.nodes}
    assert depths == {"conv": 1, "pool": 1, "flat": 1, "fc": 2, "sm": 3}
    residual = _residual_graph(2)
    depths = {node.name: downstream_depths(residual, "x")[id(node)] for node in residual.nodes}
    # The skip connection reaches each add in one op, past its two convs.
    assert depths == {"conv_a0": 1, "conv_b0": 2, "add_s0": 1, "conv_a1": 2, "conv_b1": 3, "add_s1": 2}


def test_bounded_probe_measures_the_ops_at_the_bound():
    graph = _chain_graph()
    p = bounded_probe(graph, "x", 1)
    assert [n.name for n in p.nodes] == ["conv", "pool", "flat"] and p.measured == ("c",)
    p = bounded_probe(graph, "x", 2)
    assert [n.name for n in p.nodes] == ["conv", "pool", "flat", "fc"] and p.measured == ("f",)
    assert bounded_probe(graph, "x", 3) == probe(graph, "x", "output")
    assert bounded_probe(graph, "x", None) == probe(graph, "x", "output")
    residual = _residual_graph(3)
    p = bounded_probe(residual, "x", 2)
    assert [n.name for n in p.nodes] == ["conv_a0", "conv_b0", "add_s0", "conv_a1", "add_s1"]
    assert p.measured == ("b0", "a1", "s1")


def test_probe_bound_keeps_cheap_probes_whole_and_bounds_deep_ones():
    shallow, deep = _residual_graph(2), _residual_graph(12)
    assert probe_bound(shallow, range_tensors(shallow), whole_work=0) is None
    assert probe_bound(deep, range_tensors(deep)) is None  # cheap in absolute terms: whole probes
    bound = probe_bound(deep, range_tensors(deep), whole_work=0)
    assert bound is not None and bound >= 1
    # Within the budget, and the next depth would not be.
    work = {id(n): auto.node_work(deep, n) for n in deep.nodes}
    total = sum(work.values())

    def cost(b):
        return sum(work[id(n)] for t in range_tensors(deep) for n in bounded_probe(deep, t, b).nodes)

    assert cost(bound) <= auto.PROBE_BUDGET * total < cost(bound + 1)
    assert probe_bound(deep, range_tensors(deep), budget=0.0, whole_work=0) == 1  # at least the next computing op


def test_deep_model_auto_calibration_runs_bounded_probes(monkeypatch):
    monkeypatch.setattr(auto, "WHOLE_PROBE_WORK", 0)  # the test graph is small: bound it as a big one
    graph = _residual_graph(12)
    assert probe_bound(graph, range_tensors(graph)) is not None
    x = np.random.default_rng(4).normal(size=(40, 4, 4, 2)).astype(np.float32)
    result = auto.calibrate_auto(graph, x)
    assert set(result.choices) == set(range_tensors(graph))
    assert all(min(s.values()) == s[result.choices[t]] for t, s in result.scores.items())


@pytest.mark.parametrize("model", ["kws_dscnn/model.onnx", "resnet8_cifar10/model.onnx",
                                   "mnist/pytorch_opset9.onnx", "mnist/keras2onnx_opset10.onnx",
                                   "mnist/pytorch_opset20_external.onnx"])
def test_shared_models_keep_their_whole_graph_probes(zoo, model):
    graph = passes.optimize(load_onnx(zoo / model))
    assert probe_bound(graph, range_tensors(graph)) is None


def test_first_samples_keeps_each_tensors_rows_of_the_first_samples():
    graph = _chain_graph()
    values = {"x": np.arange(8 * 16, dtype=np.float32).reshape(8, 4, 4, 1),
              "r": np.arange(8 * 8, dtype=np.float32).reshape(8, 8)}
    kept = auto.first_samples(graph, values, 4)
    np.testing.assert_array_equal(kept["x"], values["x"][:2])
    np.testing.assert_array_equal(kept["r"], values["r"][:2])
    assert auto.first_samples(graph, values, 1) is values
    assert len(auto.first_samples(graph, {k: v[:1] for k, v in values.items()}, 4)["x"]) == 1  # at least one


def test_bounded_probes_read_at_least_min_probe_samples():
    assert auto.bounded_share(16) == 1 and auto.bounded_share(40) == 2
    assert auto.bounded_share(64) == auto.BOUNDED_PROBE_SHARE == 4 and auto.bounded_share(1000) == 4
    for n in (1, 16, 31, 64, 200):
        assert n // auto.bounded_share(n) >= min(n, auto.MIN_PROBE_SAMPLES)
