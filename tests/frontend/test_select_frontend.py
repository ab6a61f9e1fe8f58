"""Slice, Split, Gather and GatherND with constant indices, and the channel shuffle, load into float IR
that computes what ONNX Runtime computes (before and after the rewrites), in the forms the exporters
write; the shuffle becomes one gather_channels, and an NCHW model input sliced directly keeps no
transposes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper, numpy_helper

from tests.frontend.test_frontend import assert_matches_ort, build_model, op_counts

INT64_MAX, INT64_MIN = np.iinfo(np.int64).max, np.iinfo(np.int64).min
SHAPE = (1, 6, 5, 7)


def ints(values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


bound = st.one_of(st.integers(-9, 9), st.sampled_from([INT64_MAX, INT64_MIN]))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 3), bound, bound, st.integers(1, 3)), min_size=1, max_size=3,
                unique_by=lambda t: t[0]))
def test_slice_matches_onnx_runtime(tmp_path_factory, boxes):
    """Any positive-step box over C, H and W (negative, clamped and extreme bounds); empty ones refused."""
    axes, starts, ends, steps = (list(v) for v in zip(*boxes))
    node = helper.make_node("Slice", ["x", "s", "e", "a", "t"], ["y"])
    model = build_model([node], {"x": list(SHAPE)}, {"s": ints(starts), "e": ints(ends), "a": ints(axes),
                                                       "t": ints(steps)})
    try:
        graph = assert_matches_ort(model, tmp_path_factory.mktemp("slice"))
    except Exception as exc:  # an empty selection is refused by name
        assert "empty selection" in str(exc), exc
        return
    assert op_counts(graph) == {"slice": 1}


@pytest.mark.parametrize("opset", [13, 18])
def test_split_sizes_and_num_outputs_match_onnx_runtime(opset, tmp_path):
    """Sizes as an input (opset 13), and num_outputs=3 of 7 channels (3, 3, 1) from opset 18."""
    inits = {"sizes": ints([2, 4, 1])} if opset == 13 else {}
    attrs = {} if opset == 13 else {"num_outputs": 3}
    node = helper.make_node("Split", ["x", *inits], ["a", "b", "c"], axis=1, **attrs)
    model = build_model([node], {"x": [1, 7, 3, 4]}, inits, opset=opset, outputs=("a", "b", "c"))
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph) == {"slice": 3}


@pytest.mark.parametrize("indices, axis, ops", [
    (ints(-1), 1, {"slice", "reshape"}), (ints([4, 0, 4, -2]), 1, {"gather_channels"}),
    (ints(2), 3, {"slice", "reshape"}),  # the rank-3 [1, C, H] output is channels-last [N, W, C]: no transpose
    (ints([0, 2, 4]), 2, {"slice"}), (ints([3, 1]), 2, {"gather_channels", "transpose"}),
])
def test_gather_matches_onnx_runtime(indices, axis, ops, tmp_path):
    node = helper.make_node("Gather", ["x", "i"], ["y"], axis=axis)
    graph = assert_matches_ort(build_model([node], {"x": list(SHAPE)}, {"i": indices}), tmp_path)
    assert set(op_counts(graph)) == ops


def test_gather_nd_between_transposes_is_a_channel_gather(tmp_path):
    nodes = [helper.make_node("Transpose", ["x"], ["t"], perm=[1, 0, 2, 3]),
             helper.make_node("GatherND", ["t", "i"], ["g"]),
             helper.make_node("Transpose", ["g"], ["y"], perm=[1, 0, 2, 3])]
    graph = assert_matches_ort(build_model(nodes, {"x": list(SHAPE)}, {"i": ints([[5], [0], [5]])}), tmp_path)
    assert op_counts(graph) == {"gather_channels": 1}


def shuffle_model(channels: int, groups: int, size: int, opset: int, constant_nodes: bool, pool_first: bool):
    shapes = {"s5": ints([1, groups, channels // groups, size, size]), "s4": ints([1, channels, size, size])}
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"])] if pool_first else []
    if constant_nodes:
        nodes += [helper.make_node("Constant", [], [k], value=numpy_helper.from_array(v, k)) for k, v in shapes.items()]
    nodes += [helper.make_node("Reshape", ["p" if pool_first else "x", "s5"], ["r"]),
              helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
              helper.make_node("Reshape", ["t", "s4"], ["y"])]
    return build_model(nodes, {"x": [1, channels, 4, 4]}, {} if constant_nodes else shapes, opset=opset)


@pytest.mark.parametrize("channels, groups", [(8, 2), (12, 3), (12, 4)])
@pytest.mark.parametrize("opset, constant_nodes", [(13, False), (18, True)])
def test_channel_shuffle_is_one_gather(channels, groups, opset, constant_nodes, tmp_path):
    graph = assert_matches_ort(shuffle_model(channels, groups, 4, opset, constant_nodes, False), tmp_path)
    assert op_counts(graph) == {"gather_channels": 1}
    want = np.arange(channels).reshape(groups, channels // groups).T.reshape(-1)
    assert graph.nodes[0].attrs["indices"] == tuple(int(i) for i in want)


def test_channel_shuffle_after_global_pooling_is_one_gather(tmp_path):
    """After global pooling the layout rewrites turn the NHWC->NCHW transpose into a reshape; the shuffle
    is then a permutation of a vector, still one gather (no rank-5 transpose)."""
    graph = assert_matches_ort(shuffle_model(12, 3, 1, 13, False, True), tmp_path)
    counts = op_counts(graph)
    assert counts["gather_channels"] == 1 and "transpose" not in counts, counts


def test_channel_split_after_a_shuffle_is_two_gathers(tmp_path):
    """ShuffleNetV2: a unit's shuffle, then the next unit's chunk(2): two gathers of half the channels
    each, no full shuffle, no slices."""
    model = shuffle_model(8, 2, 4, 13, False, False)
    model.graph.node[-1].output[0] = "shuffled"
    model.graph.node.append(helper.make_node("Split", ["shuffled"], ["y", "z"], axis=1))
    model.graph.output.append(helper.make_tensor_value_info("z", 1, None))
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph) == {"gather_channels": 2}
    assert [node.attrs["indices"] for node in graph.nodes] == [(0, 4, 1, 5), (2, 6, 3, 7)]
