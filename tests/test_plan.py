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
