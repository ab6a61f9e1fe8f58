"""The arena planner: no two buffers alive at the same step share bytes, except an in-place layer's
input and output at the shift the layer allows; every placement order and the schedule search keep
that, and the best of them is what the plan reports."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuq.plan import ALIGNMENT, ArenaPlanner, best_schedule, plan_arena, with_roomy_scratch
from mcuq.plan.buffers import Buffer
from mcuq.plan.greedy import ORDERS
from mcuq.plan.schedule import topological_orders
from mcuq.qir import kernels
from mcuq.qir.model import ConcatParams, ConvParams, CopyParams, Layer, LutParams, QModel, QOp, QTensor, TransposeParams

buffer_specs = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 20), st.integers(0, 10)), min_size=1, max_size=30
)
# In-place chains: each link is born at the step its predecessor dies, at a shift (in units of the
# alignment, <= 0) from it.
chain_specs = st.lists(
    st.lists(st.tuples(st.integers(1, 3000), st.integers(1, 6), st.integers(-300, 0)), min_size=2, max_size=5),
    max_size=4,
)


def _planner(specs, chains=()):
    planner = ArenaPlanner(ALIGNMENT)
    for i, (size, first, length) in enumerate(specs):
        planner.add_buffer(f"t{i}", size, first, first + length)
    for c, chain in enumerate(chains):
        step = c
        for j, (size, length, units) in enumerate(chain):
            anchor = dict(anchor=f"c{c}_{j - 1}", shift=units * ALIGNMENT) if j else {}
            planner.add_buffer(f"c{c}_{j}", size, step, step + length, **anchor)
            step += length
    return planner


@settings(max_examples=150, deadline=None)
@given(buffer_specs, chain_specs, st.sampled_from(sorted(ORDERS)))
def test_live_buffers_never_overlap(specs, chains, order):
    planner = _planner(specs, chains)
    offsets, size = planner.plan(order)
    bufs = planner.buffers
    for i, a in enumerate(bufs):
        assert offsets[a.name] % ALIGNMENT == 0 and offsets[a.name] >= 0
        assert offsets[a.name] + a.size <= size
        for b in bufs[i + 1 :]:
            if planner.anchors.get(b.name, (None,))[0] == a.name:
                assert offsets[b.name] - offsets[a.name] == planner.anchors[b.name][1]
            elif a.overlaps_in_time(b):
                a_end, b_end = offsets[a.name] + a.size, offsets[b.name] + b.size
                assert a_end <= offsets[b.name] or b_end <= offsets[a.name], (a, b, offsets)


@settings(max_examples=150, deadline=None)
@given(buffer_specs, chain_specs)
def test_size_is_between_lower_bound_and_sum(specs, chains):
    planner = _planner(specs, chains)
    bound = planner.lower_bound()
    for order in ORDERS:
        _, size = planner.plan(order)
        assert bound <= size <= sum(g.span for g in planner.groups())


def test_buffers_with_disjoint_lifetimes_share_memory():
    planner = ArenaPlanner(ALIGNMENT)
    planner.add_buffer("a", 1000, 0, 1)
    planner.add_buffer("b", 1000, 2, 3)
    planner.add_buffer("c", 400, 1, 2)
    offsets, size = planner.plan()
    assert offsets["a"] == offsets["b"] == 0
    assert size == 1400


def test_an_inplace_pair_counts_its_union_once():
    planner = ArenaPlanner(ALIGNMENT)
    planner.add_buffer("x", 1000, 0, 1)
    planner.add_buffer("y", 1000, 1, 2, anchor="x", shift=-100)
    planner.add_buffer("scratch", 40, 1, 1)
    assert planner.lower_bound() == 1100 + 40
    offsets, size = planner.plan()
    assert offsets["y"] == offsets["x"] - 100
    assert size == 1140
    with pytest.raises(ValueError, match="multiple"):
        planner.add_buffer("z", 8, 2, 3, anchor="y", shift=-2)


def test_lifetime_overlap_is_inclusive():
    assert Buffer("a", 4, 0, 2).overlaps_in_time(Buffer("b", 4, 2, 3))
    assert not Buffer("a", 4, 0, 1).overlaps_in_time(Buffer("b", 4, 2, 3))


TABLE = LutParams(table=np.arange(-128, 128, dtype=np.int8))


def _chain_model(copy_input_read_later: bool):
    """x -> lut -> a -> copy -> b -> lut -> y (and, optionally, a is read again at the end)."""
    tensors = {n: QTensor(n, s, 1.0, 0) for n, s in
               [("x", (1, 4, 4, 8)), ("a", (1, 4, 4, 8)), ("b", (1, 128)), ("y", (1, 128)), ("z", (1, 4, 4, 8))]}
    layers = [Layer(QOp.LUT, "l0", ("x",), "a", TABLE), Layer(QOp.COPY, "flatten", ("a",), "b", CopyParams()),
              Layer(QOp.LUT, "l2", ("b",), "y", TABLE)]
    outputs = ["y"]
    if copy_input_read_later:
        layers.append(Layer(QOp.LUT, "l3", ("a",), "z", TABLE))
        outputs.append("z")
    return QModel("m", tensors if copy_input_read_later else {k: v for k, v in tensors.items() if k != "z"},
                  layers, ["x"], outputs)


def test_reshape_and_lut_share_the_bytes_of_an_input_that_dies_with_them():
    plan = plan_arena(_chain_model(copy_input_read_later=False))
    assert plan.offsets["x"] == plan.offsets["a"] == plan.offsets["b"] == plan.offsets["y"]
    assert plan.size == plan.lower_bound == 128
    assert plan.inplace == {"a": ("x", 0), "b": ("a", 0), "y": ("b", 0)}


def test_reshape_copies_when_its_input_is_read_later():
    plan = plan_arena(_chain_model(copy_input_read_later=True))
    assert plan.offsets["a"] != plan.offsets["b"]
    assert "b" not in plan.inplace and "a" in plan.inplace  # the first LUT still runs in place


def test_plan_is_the_best_of_the_modes_and_orders_tried():
    model = _chain_model(copy_input_read_later=True)
    sizes = [plan_arena(model, modes=(mode,), orders=(order,)).size
             for mode in ("all", "reshapes") for order in ORDERS]
    assert plan_arena(model).size == min(sizes)


def _branch_model():
    """x -> big -> y and x -> small, then concat(y, small); the layers cannot run in place (transposes,
    and a concat that requantizes both inputs, so they keep their buffers). Running `small` before `b`
    lets x die before y is born instead of staying alive next to big and y."""
    ident = TransposeParams(perm=(0, 1))
    t = {n: QTensor(n, s, 1.0, 0) for n, s in
         [("x", (1, 100)), ("big", (1, 88)), ("small", (1, 12)), ("y", (1, 88))]}
    t["z"] = QTensor("z", (1, 100), 2.0, 0)
    cat = ConcatParams(axis=1, input_offsets=(0, 0), multipliers=(1 << 30, 1 << 30), shifts=(0, 0), output_offset=0)
    layers = [Layer(QOp.TRANSPOSE, "a", ("x",), "big", ident),
              Layer(QOp.TRANSPOSE, "b", ("big",), "y", ident),
              Layer(QOp.TRANSPOSE, "c", ("x",), "small", ident),
              Layer(QOp.CONCAT, "d", ("y", "small"), "z", cat)]
    return QModel("m", t, layers, ["x"], ["z"])


def test_topological_orders_start_with_the_given_one_and_respect_dependencies():
    model = _branch_model()
    orders = list(topological_orders(model, 10))
    assert orders[0] == (0, 1, 2, 3)
    assert sorted(orders) == [(0, 1, 2, 3), (0, 2, 1, 3), (2, 0, 1, 3)]
    assert list(topological_orders(model, 2)) == orders[:2]


def test_schedule_picks_the_order_with_the_smallest_arena():
    model = _branch_model()
    # Given order: x stays alive through a and b, next to big and y.
    assert plan_arena(model).size == 100 + 88 + 88
    best = best_schedule(model)
    names = [layer.name for layer in best.layers]
    assert names.index("c") < names.index("b")  # small before the second half of the long branch
    assert plan_arena(best).size == plan_arena(best).lower_bound == 100 + 88 + 12


def _conv(name, src, dst, c_in, c_out, k, stride=1, pad=0):
    return Layer(QOp.CONV, name, (src,), dst, ConvParams(
        weights=np.zeros((c_out, k, k, c_in), np.int8), bias=np.zeros(c_out, np.int32),
        multiplier=np.full(c_out, 1 << 30, np.int32), shift=np.full(c_out, -2, np.int32), input_offset=0,
        output_offset=0, stride=(stride, stride), dilation=(1, 1), padding=(pad,) * 4, act_min=-128, act_max=127))


def _funnel_model():
    """x 16x16x4 -> 3x3 conv -> a 16x16x4 -> 3x3/4 conv -> b 4x4x16 -> 3x3/2 conv -> y 2x2x16: the first
    conv runs where the arena peaks, the last where little else is alive."""
    shapes = {"x": (1, 16, 16, 4), "a": (1, 16, 16, 4), "b": (1, 4, 4, 16), "y": (1, 2, 2, 16)}
    tensors = {n: QTensor(n, s, 1.0, 0) for n, s in shapes.items()}
    layers = [_conv("c0", "x", "a", 4, 4, 3, pad=1), _conv("c1", "a", "b", 4, 16, 3, stride=4, pad=1),
              _conv("c2", "b", "y", 16, 16, 3, stride=2, pad=1)]
    return QModel("funnel", tensors, layers, ["x"], ["y"])


def test_roomy_scratch_only_where_the_arena_stays_as_small():
    model = _funnel_model()
    least = plan_arena(model)
    plan = with_roomy_scratch(model, least, growth=0)
    assert plan.size == least.size
    given_roomy = []
    for step, layer in enumerate(model.layers):
        need, roomy = kernels.scratch_bytes(layer, model.tensors), kernels.roomy_scratch_bytes(layer, model.tensors)
        assert roomy > need  # every conv here has a faster path with more scratch
        got = plan.scratch[step][1]
        assert got in (need, roomy)
        if got == roomy:
            given_roomy.append(step)
        else:  # refused: that layer's roomy scratch on top of the others' would enlarge the arena
            others = {s: kernels.roomy_scratch_bytes(model.layers[s], model.tensors) for s in given_roomy}
            assert plan_arena(model, roomy={**others, step: roomy}).size > least.size
    assert 2 in given_roomy  # the last conv runs where there is room
    assert 0 not in given_roomy  # the first runs at the peak


def _roomy_steps(model, plan) -> set[int]:
    return {s for s, layer in enumerate(model.layers)
            if plan.scratch[s][1] == kernels.roomy_scratch_bytes(layer, model.tensors)}


def test_scratch_growth_buys_faster_paths_within_its_bound():
    model = _funnel_model()
    least = plan_arena(model)
    frugal = with_roomy_scratch(model, least, growth=0)
    refused = set(range(len(model.layers))) - _roomy_steps(model, frugal)
    assert 0 in refused  # the funnel's first conv runs where the arena peaks
    for step in sorted(refused)[:1]:  # the first refused layer: no earlier layer's choice depends on the bound
        roomy = kernels.roomy_scratch_bytes(model.layers[step], model.tensors)
        cost = plan_arena(model, roomy={step: roomy}).size - least.size
        # a bound below the layer's cost refuses it, one at its cost grants it
        below = with_roomy_scratch(model, least, growth=(cost - 1) / least.size)
        assert step not in _roomy_steps(model, below) and below.size < least.size + cost
        at = with_roomy_scratch(model, least, growth=cost / least.size + 1e-9)
        assert step in _roomy_steps(model, at) and at.size <= least.size + cost


def test_negative_scratch_growth_is_refused(tmp_path):
    import mcuq
    from mcuq.errors import McuqError

    with pytest.raises(McuqError, match="scratch_growth must be 0 or more"):
        mcuq.compile("model.onnx", None, tmp_path / "out", scratch_growth=-0.1)
    assert not (tmp_path / "out").exists()
