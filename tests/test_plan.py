"""The arena planner: no two buffers alive at the same step may share bytes."""

from hypothesis import given, settings
from hypothesis import strategies as st

from mcuq.plan import ALIGNMENT, ArenaPlanner
from mcuq.plan.buffers import Buffer

buffer_specs = st.lists(
    st.tuples(st.integers(1, 5000), st.integers(0, 20), st.integers(0, 10)), min_size=1, max_size=30
)


def _planned(specs):
    planner = ArenaPlanner()
    for i, (size, first, length) in enumerate(specs):
        planner.add_buffer(f"t{i}", size, first, first + length)
    offsets, size = planner.plan()
    return planner, offsets, size


@settings(max_examples=200, deadline=None)
@given(buffer_specs)
def test_live_buffers_never_overlap(specs):
    planner, offsets, size = _planned(specs)
    bufs = planner.buffers
    for i, a in enumerate(bufs):
        assert offsets[a.name] % ALIGNMENT == 0
        assert offsets[a.name] + a.size <= size
        for b in bufs[i + 1 :]:
            if a.overlaps_in_time(b):
                a_end, b_end = offsets[a.name] + a.size, offsets[b.name] + b.size
                assert a_end <= offsets[b.name] or b_end <= offsets[a.name], (a, b, offsets)


@settings(max_examples=200, deadline=None)
@given(buffer_specs)
def test_size_is_between_lower_bound_and_sum(specs):
    planner, _, size = _planned(specs)
    assert planner.lower_bound() <= size <= sum(b.size for b in planner.buffers)


def test_buffers_with_disjoint_lifetimes_share_memory():
    planner = ArenaPlanner()
    planner.add_buffer("a", 1000, 0, 1)
    planner.add_buffer("b", 1000, 2, 3)
    planner.add_buffer("c", 400, 1, 2)
    offsets, size = planner.plan()
    assert offsets["a"] == offsets["b"] == 0
    assert size == 1400


def test_lifetime_overlap_is_inclusive():
    assert Buffer("a", 4, 0, 2).overlaps_in_time(Buffer("b", 4, 2, 3))
    assert not Buffer("a", 4, 0, 1).overlaps_in_time(Buffer("b", 4, 2, 3))


def _chain_model(copy_input_read_later: bool):
    """x -> lut -> a -> copy -> b -> lut -> y (and, optionally, a is read again at the end)."""
    import numpy as np

    from mcuq.qir import CopyParams, Layer, LutParams, QModel, QOp, QTensor

    table = LutParams(table=np.arange(-128, 128, dtype=np.int8))
    tensors = {n: QTensor(n, s, 1.0, 0) for n, s in
               [("x", (1, 4, 4, 8)), ("a", (1, 4, 4, 8)), ("b", (1, 128)), ("y", (1, 128)), ("z", (1, 4, 4, 8))]}
    layers = [Layer(QOp.LUT, "l0", ("x",), "a", table), Layer(QOp.COPY, "flatten", ("a",), "b", CopyParams()),
              Layer(QOp.LUT, "l2", ("b",), "y", table)]
    outputs = ["y"]
    if copy_input_read_later:
        layers.append(Layer(QOp.LUT, "l3", ("a",), "z", table))
        outputs.append("z")
    return QModel("m", tensors if copy_input_read_later else {k: v for k, v in tensors.items() if k != "z"},
                  layers, ["x"], outputs)


def test_reshape_shares_the_bytes_of_an_input_that_dies_with_it():
    from mcuq.plan import plan_arena

    plan = plan_arena(_chain_model(copy_input_read_later=False))
    assert plan.offsets["a"] == plan.offsets["b"]
    assert plan.offsets["y"] != plan.offsets["b"]


def test_reshape_copies_when_its_input_is_read_later():
    from mcuq.plan import plan_arena

    plan = plan_arena(_chain_model(copy_input_read_later=True))
    assert plan.offsets["a"] != plan.offsets["b"]
