"""The planner's fast paths against the straightforward code they replaced (kept here as the reference):
first-fit placement by conflicts found per step and bisection against a scan of every placed buffer,
the lower bound by a difference array against every group at every step, groups added to one by one
against made afresh, and plan_arena / with_roomy_scratch / best_schedule, which skip candidates that
cannot win, against trying every candidate in full. All must agree bit for bit (same offsets, sizes,
scratch and order), on random buffers and on random small models with branches."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from mcuq.plan import ALIGNMENT, ArenaPlan, ArenaPlanner, best_schedule, greedy, plan_arena, with_roomy_scratch
from mcuq.plan.arena import _granted_scratch, _planner, _tensor_offsets, plan_inputs, scratch_name
from mcuq.plan.buffers import Buffer, Group, align_up, make_groups
from mcuq.plan.schedule import reorder, topological_orders
from mcuq.qir import kernels
from mcuq.qir.model import CopyParams, Layer, QModel, QOp, QTensor
from tests.plan.test_plan import TABLE, _conv, buffer_specs, chain_specs
from tests.plan.test_plan import _planner as random_planner

# ---- the reference: main 4b8d6fc's code, unchanged but for names ----


def reference_place(groups: list[Group], order: str, alignment: int) -> list[int]:
    key = greedy.ORDERS[order]
    sequence = sorted(range(len(groups)), key=lambda i: (key(groups[i]), i))
    bases: list[int] = [0] * len(groups)
    placed: list[tuple[Buffer, int]] = []
    for i in sequence:
        group = groups[i]
        conflicts = [(rel, b, start, other) for b, rel in group.members for other, start in placed
                     if b.overlaps_in_time(other)]
        tops = [start + other.size for _, _, start, other in conflicts]
        candidates = sorted({0, align_up(max(tops, default=0), alignment)}
                            | {align_up(top - rel, alignment) for top, (rel, *_) in zip(tops, conflicts) if top > rel})
        bases[i] = next(base for base in candidates
                        if all(base + rel + b.size <= start or start + other.size <= base + rel
                               for rel, b, start, other in conflicts))
        placed.extend((b, bases[i] + rel) for b, rel in group.members)
    return bases


def reference_lower_bound(planner: ArenaPlanner) -> int:
    groups = make_groups(planner.buffers, planner.anchors)
    steps = range(min((b.first_use for b in planner.buffers), default=0),
                  max((b.last_use for b in planner.buffers), default=-1) + 1)
    return max((sum(g.live_bytes(s) for g in groups) for s in steps), default=0)


def reference_plan_arena(model: QModel, roomy: dict[int, int] | None = None) -> ArenaPlan:
    """Every tying and every order placed in full; the first smallest wins."""
    inputs = plan_inputs(model)
    best = None
    for tying, tensors in zip(inputs.tyings, inputs.planners):
        granted = _granted_scratch(inputs.least_scratch, roomy or {})
        planner = _planner(tensors, granted)
        groups = make_groups(planner.buffers, planner.anchors)
        for order in greedy.ORDERS:
            bases = reference_place(groups, order, ALIGNMENT)
            offsets = {b.name: base + rel for g, base in zip(groups, bases) for b, rel in g.members}
            size = max((offsets[b.name] + b.size for b in planner.buffers), default=0)
            if best is None or size < best.size:
                best = ArenaPlan(
                    size=size, offsets=_tensor_offsets(tying.spans, offsets, tying.slices, tying.views),
                    scratch={step: (offsets[scratch_name(step)], n) for step, n in granted.items()},
                    lower_bound=reference_lower_bound(planner), buffers=list(planner.buffers),
                    buffer_offsets=offsets, inplace=tying.anchors, slices=tying.slices, views=tying.views,
                    strategy=f"slice views: {'on' if tying.views else 'off'}, concat slices: "
                             f"{'on' if tying.slices else 'off'}, in place: {tying.mode}, order: {order}")
    return best


def reference_roomy(model: QModel, plan: ArenaPlan, growth: float) -> ArenaPlan:
    limit = plan.size + int(plan.size * growth)
    roomy: dict[int, int] = {}
    best = plan
    for step, layer in enumerate(model.layers):
        size = kernels.roomy_scratch_bytes(layer, model.tensors)
        if size <= kernels.scratch_bytes(layer, model.tensors):
            continue
        trial = reference_plan_arena(model, {**roomy, step: size})
        if (trial.size <= limit and trial.slices.keys() == plan.slices.keys()
                and trial.views.keys() == plan.views.keys()):
            roomy[step], best = size, trial
    return dataclasses.replace(best, least_size=plan.size)


def reference_schedule(model: QModel) -> QModel:
    best, best_size = model, None
    for order in topological_orders(model, 48):
        candidate = reorder(model, order)
        size = reference_plan_arena(candidate).size
        if best_size is None or size < best_size:
            best, best_size = candidate, size
    return best


# ---- buffers and groups ----


@settings(max_examples=200, deadline=None)
@given(buffer_specs, chain_specs, st.sampled_from(sorted(greedy.ORDERS)), st.integers(0, 20000))
def test_placement_equals_the_scan_of_every_placed_buffer(specs, chains, order, cutoff):
    planner = random_planner(specs, chains)
    groups = planner.groups()
    expected = reference_place(groups, order, ALIGNMENT)
    assert greedy.place(groups, order, ALIGNMENT) == expected
    size = max(base + g.span for g, base in zip(groups, expected))
    # With a cutoff: the same placement below it, None at or above it.
    assert greedy.place(groups, order, ALIGNMENT, cutoff) == (expected if size < cutoff else None)


@settings(max_examples=200, deadline=None)
@given(buffer_specs, chain_specs, st.sampled_from(sorted(greedy.ORDERS)), st.data())
def test_placement_reusing_an_earlier_one_equals_placing_afresh(specs, chains, order, data):
    """An earlier placement of nearly the same buffers (one of them resized, as a roomier scratch is)
    lends the starts of the groups both place first; the result is what placing afresh gives."""
    k = data.draw(st.integers(0, len(specs) - 1))
    resized = [(data.draw(st.integers(1, 5000)), first, length) if i == k else (size, first, length)
               for i, (size, first, length) in enumerate(specs)]
    _, earlier = greedy.place_reusing(random_planner(specs, chains).groups(), order, ALIGNMENT)
    groups = random_planner(resized, chains).groups()
    bases, _ = greedy.place_reusing(groups, order, ALIGNMENT, earlier=earlier)
    assert bases == reference_place(groups, order, ALIGNMENT)


@settings(max_examples=200, deadline=None)
@given(buffer_specs, chain_specs)
def test_lower_bound_equals_every_group_at_every_step(specs, chains):
    planner = random_planner(specs, chains)
    assert planner.lower_bound() == reference_lower_bound(planner)


@settings(max_examples=100, deadline=None)
@given(buffer_specs, chain_specs, st.integers(0, 30))
def test_groups_added_to_equal_groups_made_afresh(specs, chains, made_after):
    """Groups made after some buffers, then added to on a copy, as if made after the last one (a buffer
    anchored to an earlier one makes them afresh, one without an anchor joins them)."""
    whole = random_planner(specs, chains)
    planner = ArenaPlanner(ALIGNMENT)
    for k, b in enumerate(whole.buffers):
        if k == made_after:
            planner.groups()
            planner = planner.copy()
        anchor, shift = whole.anchors.get(b.name, (None, 0))
        planner.add_buffer(b.name, b.size, b.first_use, b.last_use, anchor=anchor, shift=shift)
    assert planner.groups() == make_groups(planner.buffers, planner.anchors)


def test_a_buffer_ending_before_it_starts_is_refused():
    import pytest

    with pytest.raises(ValueError, match="last use 1 is before first use 2"):
        ArenaPlanner(ALIGNMENT).add_buffer("a", 4, 2, 1)


# ---- whole models: random branching nets of convolutions, table lookups and reshapes ----

@st.composite
def random_models(draw) -> QModel:
    """Each layer reads one earlier tensor (so branches appear): a conv (1x1 or 3x3, stride 1 or 2), a
    table lookup or a reshape; the output is the last tensor and every tensor nobody reads."""
    side, channels = draw(st.integers(4, 10)), draw(st.integers(1, 6))
    tensors = {"x": QTensor("x", (1, side, side, channels), 1.0, 0)}
    layers = []
    for i in range(draw(st.integers(1, 7))):
        src = draw(st.sampled_from(sorted(tensors)))
        shape = tensors[src].shape
        kind = draw(st.sampled_from(["conv", "conv", "lut", "copy"] if len(shape) == 4 else ["lut"]))
        out = f"t{i}"
        if kind == "conv":
            k, stride, c_out = draw(st.sampled_from([1, 3])), draw(st.integers(1, 2)), draw(st.integers(1, 8))
            pad = k // 2
            h = (shape[1] + 2 * pad - k) // stride + 1
            w = (shape[2] + 2 * pad - k) // stride + 1
            tensors[out] = QTensor(out, (1, h, w, c_out), 1.0, 0)
            layers.append(_conv(f"l{i}", src, out, shape[3], c_out, k, stride, pad))
        elif kind == "lut":
            tensors[out] = QTensor(out, shape, 1.0, 0)
            layers.append(Layer(QOp.LUT, f"l{i}", (src,), out, TABLE))
        else:
            tensors[out] = QTensor(out, (1, int(np.prod(shape))), 1.0, 0)
            layers.append(Layer(QOp.COPY, f"l{i}", (src,), out, CopyParams()))
    read = {name for layer in layers for name in layer.inputs}
    outputs = [layers[-1].output] + [n for n in tensors if n not in read and n not in ("x", layers[-1].output)]
    return QModel("random", tensors, layers, ["x"], outputs)


@settings(max_examples=60, deadline=None)
@given(random_models(), st.sampled_from([0.0, 1 / 32, 0.25, 1.0]))
def test_plans_equal_trying_every_candidate_in_full(model, growth):
    scheduled = best_schedule(model)
    assert [layer.name for layer in scheduled.layers] == [layer.name for layer in reference_schedule(model).layers]
    least = plan_arena(scheduled)
    assert least == reference_plan_arena(scheduled)
    assert with_roomy_scratch(scheduled, least, growth) == reference_roomy(scheduled, least, growth)
