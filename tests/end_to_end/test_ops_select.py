"""Ops that select bytes, end to end against ONNX Runtime (`test_ops_end_to_end.check`: the C equals the
golden model on every sample, the int8 result is within int8 precision of ONNX Runtime's float result):
Slice (channel ranges, crops, negative indices, steps), Split (sizes, equal chunks, num_outputs), Gather
(one index drops the axis, lists), GatherND as the dynamo exporter writes ``x[:, [3, 0]]``, ShuffleNet's
channel shuffle as one gather_channels, a whole ShuffleNetV2 unit; the refusals; and the planner's
zero-copy view of a slice that is one block of its input."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import mcuq
from mcuq.errors import McuqError
from mcuq.plan import arena
from tests.end_to_end.test_ops_end_to_end import check
from tests.helpers import small_models
from tests.helpers.small_models import conv, make_model, w

INT64_MAX = np.iinfo(np.int64).max


def ints(*values) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def sliced(x, out, starts, ends, axes, steps=None, name="s"):
    """A Slice node with its constant inputs as initializers."""
    inits = {f"{name}_starts": ints(*starts), f"{name}_ends": ints(*ends), f"{name}_axes": ints(*axes)}
    inputs = [x, f"{name}_starts", f"{name}_ends", f"{name}_axes"]
    if steps is not None:
        inits[f"{name}_steps"] = ints(*steps)
        inputs.append(f"{name}_steps")
    return helper.make_node("Slice", inputs, [out], name=name), inits


def shuffle_nodes(x, out, groups, channels, size, shape_as_constant_node=False):
    """``view(n, g, c/g, h, w) -> transpose(1, 2) -> view(n, c, h, w)``: with the shapes as initializers
    (TorchScript opset 13 after constant folding, and dynamo) or as Constant nodes."""
    shapes = {f"{out}_s5": ints(1, groups, channels // groups, size, size), f"{out}_s4": ints(1, channels, size, size)}
    nodes = [helper.make_node("Reshape", [x, f"{out}_s5"], [f"{out}_r5"]),
             helper.make_node("Transpose", [f"{out}_r5"], [f"{out}_t"], perm=[0, 2, 1, 3, 4]),
             helper.make_node("Reshape", [f"{out}_t", f"{out}_s4"], [out])]
    if not shape_as_constant_node:
        return nodes, shapes
    constants = [helper.make_node("Constant", [], [k], value=numpy_helper.from_array(v)) for k, v in shapes.items()]
    return constants + nodes, {}


def case_channel_slice():
    a, ia = conv("a", "x", "h", 3, 8)
    s, i_s = sliced("h", "s", [2], [6], [1])
    b, ib = conv("b", "s", "y", 4, 5)
    return [a, s, b], [1, 3, 6, 6], {**ia, **i_s, **ib}, {"slice"}


def case_spatial_crop_with_negative_indices():
    a, ia = conv("a", "x", "h", 3, 4)
    s, i_s = sliced("h", "s", [-6, 1], [-1, INT64_MAX], [2, -1])
    b, ib = conv("b", "s", "y", 4, 5)
    return [a, s, b], [1, 3, 8, 7], {**ia, **i_s, **ib}, {"slice"}


def case_slice_with_steps():
    a, ia = conv("a", "x", "h", 3, 8)
    s, i_s = sliced("h", "y", [1, 0], [8, 7], [1, 3], steps=[3, 2])
    return [a, s], [1, 3, 7, 7], {**ia, **i_s}, {"slice"}


def case_split_unequal_sizes():
    a, ia = conv("a", "x", "h", 3, 8)
    split = helper.make_node("Split", ["h", "sizes"], ["p", "q"], axis=1)
    b, ib = conv("b", "p", "pb", 3, 4)
    c, ic = conv("c", "q", "qc", 5, 4)
    add = helper.make_node("Add", ["pb", "qc"], ["y"])
    return [a, split, b, c, add], [1, 3, 6, 6], {**ia, **ib, **ic, "sizes": ints(3, 5)}, {"slice", "add"}


def case_split_equal_chunks_along_h():
    """``x.chunk(2, dim=2)`` in opset 13: no sizes, equal parts (each one block of rows: views)."""
    a, ia = conv("a", "x", "h", 3, 4)
    split = helper.make_node("Split", ["h"], ["top", "bottom"], axis=2)
    cat = helper.make_node("Concat", ["bottom", "top"], ["y"], axis=1)
    return [a, split, cat], [1, 3, 8, 5], ia, {"slice", "concat"}


def case_gather_one_channel_drops_the_axis():
    """``x[:, -1]``: [1, C, H, W] -> [1, H, W], flattened into a Gemm."""
    a, ia = conv("a", "x", "h", 3, 6)
    gather = helper.make_node("Gather", ["h", "last"], ["g"], axis=1)
    flat = helper.make_node("Flatten", ["g"], ["f"])
    gemm = helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)
    inits = {**ia, "last": np.array(-1, np.int64), "fw": w(5, 25), "fb": w(5)}
    return [a, gather, flat, gemm], [1, 3, 5, 5], inits, {"slice", "fully_connected"}


def case_gather_one_row():
    """``x[:, :, 2]``: a spatial index, [1, C, H, W] -> [1, C, W]."""
    a, ia = conv("a", "x", "h", 3, 4)
    gather = helper.make_node("Gather", ["h", "row"], ["g"], axis=2)
    flat = helper.make_node("Flatten", ["g"], ["f"])
    gemm = helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)
    inits = {**ia, "row": np.array(2, np.int64), "fw": w(3, 24), "fb": w(3)}
    return [a, gather, flat, gemm], [1, 3, 5, 6], inits, {"slice", "fully_connected"}


def case_gather_channel_list():
    a, ia = conv("a", "x", "h", 3, 6)
    gather = helper.make_node("Gather", ["h", "which"], ["g"], axis=1)
    b, ib = conv("b", "g", "y", 4, 4)
    return [a, gather, b], [1, 3, 6, 6], {**ia, **ib, "which": ints(3, 0, -1, 3)}, {"gather_channels"}


def case_gather_evenly_spaced_list_is_a_slice():
    a, ia = conv("a", "x", "h", 3, 8)
    gather = helper.make_node("Gather", ["h", "which"], ["g"], axis=1)
    b, ib = conv("b", "g", "y", 3, 4)
    return [a, gather, b], [1, 3, 6, 6], {**ia, **ib, "which": ints(1, 4, 7)}, {"slice"}


def case_gather_nd_as_dynamo_writes_a_channel_list():
    a, ia = conv("a", "x", "h", 3, 6)
    nodes = [helper.make_node("Transpose", ["h"], ["t"], perm=[1, 0, 2, 3]),
             helper.make_node("GatherND", ["t", "which"], ["g"]),
             helper.make_node("Transpose", ["g"], ["gt"], perm=[1, 0, 2, 3])]
    b, ib = conv("b", "gt", "y", 2, 4)
    return [a, *nodes, b], [1, 3, 6, 6], {**ia, **ib, "which": ints(3, 0).reshape(2, 1)}, {"gather_channels"}


def case_channel_shuffle_with_initializer_shapes():
    a, ia = conv("a", "x", "h", 3, 12)
    nodes, inits = shuffle_nodes("h", "sh", 3, 12, 5)
    b, ib = conv("b", "sh", "y", 12, 4)
    return [a, *nodes, b], [1, 3, 5, 5], {**ia, **inits, **ib}, {"gather_channels"}


def case_channel_shuffle_with_constant_node_shapes():
    a, ia = conv("a", "x", "h", 3, 8)
    nodes, _ = shuffle_nodes("h", "y", 2, 8, 4, shape_as_constant_node=True)
    return [a, *nodes], [1, 3, 4, 4], ia, {"gather_channels"}


def case_shufflenet_v2_unit():
    """Channel split into halves -> 1x1 conv, 3x3 depthwise, 1x1 conv on one -> Concat -> shuffle."""
    stem, i_stem = conv("stem", "x", "h", 3, 8)
    relu = helper.make_node("Relu", ["h"], ["hr"])
    split = helper.make_node("Split", ["hr"], ["keep", "branch"], axis=1, num_outputs=2)
    c1, i1 = conv("c1", "branch", "b1", 4, 4, k=1)
    r1 = helper.make_node("Relu", ["b1"], ["b1r"])
    dw, idw = conv("dw", "b1r", "b2", 4, 4, group=4)
    c2, i2 = conv("c2", "b2", "b3", 4, 4, k=1)
    r2 = helper.make_node("Relu", ["b3"], ["b3r"])
    cat = helper.make_node("Concat", ["keep", "b3r"], ["cat"], axis=1)
    shuffle, i_shuffle = shuffle_nodes("cat", "y", 2, 8, 6)
    nodes = [stem, relu, split, c1, r1, dw, c2, r2, cat, *shuffle]
    return nodes, [1, 3, 6, 6], {**i_stem, **i1, **idw, **i2, **i_shuffle}, {"slice", "gather_channels", "concat"}


def case_two_shufflenet_v2_units():
    """The second unit splits the first one's shuffled output: two half gathers instead of shuffle + split."""
    nodes, input_shape, inits, ops = case_shufflenet_v2_unit()
    renamed = [helper.make_node(n.op_type, [f"u2_{i}" if i not in inits else i for i in n.input],
                                [f"u2_{o}" for o in n.output], **{a.name: helper.get_attribute_value(a) for a in n.attribute})
               for n in nodes[2:]]
    for node in renamed:
        node.input[:] = ["y" if name == "u2_hr" else name for name in node.input]
    renamed[-1].output[0] = "z"
    nodes[-1].output[0] = "y"
    return nodes + renamed, input_shape, inits, ops, ("z",)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}
OPSET_18 = {"shufflenet_v2_unit", "two_shufflenet_v2_units"}  # Split's num_outputs attribute (the dynamo exporter's chunk)


@pytest.mark.parametrize("case", sorted(CASES))
def test_select_op_end_to_end(case, tmp_path):
    nodes, input_shape, inits, expected_ops, *outputs = CASES[case]()
    check(nodes, input_shape, inits, expected_ops, tmp_path, *(outputs or [("y",)]), opset=18 if case in OPSET_18 else 13)


def test_channel_shuffle_is_one_permutation_not_a_transpose(tmp_path):
    """The whole shuffle lowers to one gather_channels layer that only moves bytes: no transpose, and its
    output has the input's scale and zero point (no requantization)."""
    nodes, input_shape, inits, _ = case_shufflenet_v2_unit()
    path = tmp_path / "m.onnx"
    onnx.save(make_model(nodes, input_shape, inits, opset=18), path)
    samples = small_models.RNG.normal(0, 1, size=(40, *input_shape[1:])).astype(np.float32)
    compiled = mcuq.compile(path, samples[:32], tmp_path / "out", verify_data=samples[32:])
    ops = [layer.op.value for layer in compiled.qmodel.layers]
    assert ops.count("gather_channels") == 1 and "transpose" not in ops, ops
    shuffle = next(layer for layer in compiled.qmodel.layers if layer.op.value == "gather_channels")
    x, y = compiled.qmodel.tensors[shuffle.inputs[0]], compiled.qmodel.tensors[shuffle.output]
    assert (x.scale, x.zero_point) == (y.scale, y.zero_point)
    assert sorted(shuffle.params.indices) == list(range(8)) and shuffle.params.indices[:4] == (0, 4, 1, 5)


def row_crop_model(path, readers: int) -> None:
    """Rows 2..6 of a conv's [1, 8, 9, 9] output, read by one 3x3 conv or by two convs then added."""
    a, ia = conv("a", "x", "h", 3, 8)
    s, i_s = sliced("h", "s", [2], [7], [2])
    b, ib = conv("b", "s", "sb" if readers == 2 else "y", 8, 4)
    nodes, inits = [a, s, b], {**ia, **i_s, **ib}
    if readers == 2:
        c, ic = conv("c", "s", "sc", 8, 4, k=1, pads=[0, 0, 0, 0])
        nodes += [c, helper.make_node("Add", ["sb", "sc"], ["y"])]
        inits.update(ic)
    onnx.save(make_model(nodes, [1, 3, 9, 9], inits), path)


def compiled_crop(tmp_path, readers: int):
    row_crop_model(tmp_path / "m.onnx", readers)
    samples = small_models.RNG.normal(0, 1, size=(40, 3, 9, 9)).astype(np.float32)
    compiled = mcuq.compile(tmp_path / "m.onnx", samples[:32], tmp_path / "out", verify_data=samples[32:])
    return compiled, next(layer for layer in compiled.qmodel.layers if layer.op.value == "slice")


def test_a_crop_of_rows_is_a_view_and_the_arena_shrinks(tmp_path, monkeypatch):
    """Rows 2..6 of an NHWC tensor are one block of it: the planner places the slice inside its input
    (no buffer, no kernel call): 972 bytes against 1,008 with the crop copied."""
    compiled, crop = compiled_crop(tmp_path, readers=1)
    plan = compiled.plan
    assert crop.output in plan.views
    assert plan.offsets[crop.output] == plan.offsets[crop.inputs[0]] + 2 * 9 * 8
    assert "mcuq_slice_s8(" not in compiled.c_path.read_text()
    monkeypatch.setattr(arena, "slice_views", lambda model: {})
    copied = arena.plan_arena(compiled.qmodel)
    assert crop.output not in copied.views and plan.size < copied.size, (plan.size, copied.size)


def test_a_view_that_would_grow_the_arena_is_copied(tmp_path, monkeypatch):
    """With two convs reading the crop, the view would keep the whole 648-byte input alive until both
    ran (1,024 bytes); copying the 360-byte crop lets the input die first (1,008): the planner copies."""
    compiled, crop = compiled_crop(tmp_path, readers=2)
    monkeypatch.setattr(arena, "slice_views", lambda model: {})
    copied = arena.plan_arena(compiled.qmodel)
    assert compiled.plan.size == copied.size and crop.output not in compiled.plan.views
    assert "mcuq_slice_s8(" in compiled.c_path.read_text()


@pytest.mark.parametrize("make, message", [
    (lambda: sliced("h", "y", [6], [0], [1], steps=[-1]), "only positive steps"),
    (lambda: sliced("h", "y", [5], [2], [1]), "empty selection"),
    (lambda: (helper.make_node("Gather", ["h", "which"], ["y"], axis=0), {"which": ints(0, 0)}),
     "not evenly spaced"),
    (lambda: (helper.make_node("Gather", ["h", "which"], ["y"], axis=1), {"which": ints(0, 1, 2, 3).reshape(2, 2)}),
     "indices of rank 2"),
])
def test_refusals_name_the_node_and_the_fix(make, message, tmp_path):
    a, ia = conv("a", "x", "h", 3, 6)
    node, inits = make()
    path = tmp_path / "m.onnx"
    onnx.save(make_model([a, node], [1, 3, 6, 6], {**ia, **inits}), path)
    samples = small_models.RNG.normal(0, 1, size=(8, 3, 6, 6)).astype(np.float32)
    with pytest.raises(McuqError, match=message):
        mcuq.compile(path, samples, tmp_path / "out")
