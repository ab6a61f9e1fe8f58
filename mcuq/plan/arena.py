"""Arena planning for a model: tensor lifetimes and in-place layers -> offsets in one arena.

Activations and kernel scratch buffers share the arena. Graph inputs and outputs live in it too:
`invoke` copies the caller's input in and the result out, and the float API quantizes straight into
the input slot. A layer whose input dies with it may write its output over that input at a shift its
kernel allows (`inplace.py`); a reshape is then the same bytes and costs no code at all. The
producers of a Concat's inputs may write straight into their slices of its output (`concat.py`):
those inputs get no buffer, and the Concat's output is alive from its first slice's producer on.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from mcuq.plan import greedy
from mcuq.plan.buffers import Buffer, align_up, live_bytes_per_step
from mcuq.plan.concat import Slice, slice_writes
from mcuq.plan.inplace import inplace_shift
from mcuq.plan.planner import ArenaPlanner
from mcuq.plan.views import View, root_of, slice_views, tied_to_views, view_lifetimes
from mcuq.qir import kernels
from mcuq.qir.model import QModel, QOp, QTensor

ALIGNMENT = 4  # int32 scratch and word-wise loads need 4-byte alignment
# "all": every layer that can runs in place; "reshapes": only reshapes share their input's bytes.
# The planner tries both: tying buffers together can, rarely, pack worse.
INPLACE_MODES = ("all", "reshapes")
# Concat slices on and off: writing slices early keeps the Concat's whole output alive while the other
# branches run, which can, rarely, cost more than the copies save. On ties the slices win (no copies).
SLICE_MODES = (True, False)
# Slice views on and off: a view keeps its whole input alive until the view's last reader, which can cost
# more than the copy saves (a small crop of a large tensor read late). On ties the views win (no copies).
VIEW_MODES = (True, False)


@dataclass
class ArenaPlan:
    size: int
    offsets: dict[str, int]  # activation tensor -> byte offset
    scratch: dict[int, tuple[int, int]]  # layer index -> (offset, bytes), only layers that need scratch
    lower_bound: int  # the most bytes alive at one step: no placement of these buffers is smaller
    buffers: list[Buffer] = field(default_factory=list)  # tensors and scratch (`scratch_name`)
    buffer_offsets: dict[str, int] = field(default_factory=dict)
    inplace: dict[str, tuple[str, int]] = field(default_factory=dict)  # output -> (input, shift)
    slices: dict[str, Slice] = field(default_factory=dict)  # Concat input -> where its producer writes it
    views: dict[str, View] = field(default_factory=dict)  # Slice output -> the bytes of its input it is
    strategy: str = ""
    # The arena with every kernel's least scratch (`with_roomy_scratch` may grow it for faster paths); 0: ``size``.
    least_size: int = 0

    @property
    def scratch_growth_bytes(self) -> int:
        """What the faster paths' larger scratch added to the least arena."""
        return self.size - (self.least_size or self.size)


def lifetimes(model: QModel) -> dict[str, tuple[int, int]]:
    """First and last layer index at which each activation is alive. Graph inputs are alive from
    step -1 (copied in before the first layer), graph outputs until one past the last layer (copied out)."""
    last_step = len(model.layers)
    spans: dict[str, list[int]] = {name: [-1, -1] for name in model.inputs}
    for step, layer in enumerate(model.layers):
        spans.setdefault(layer.output, [step, step])
        for name in layer.inputs:
            spans[name][1] = step
    for name in model.outputs:
        spans[name][1] = last_step
    return {name: (first, max(first, last)) for name, (first, last) in spans.items()}


def slice_lifetimes(spans: dict[str, tuple[int, int]], slices: dict[str, Slice]) -> dict[str, tuple[int, int]]:
    """Lifetimes with each Concat output alive from the step its first slice is written."""
    spans = dict(spans)
    for name, s in slices.items():
        first, last = spans[s.concat]
        spans[s.concat] = (min(first, spans[name][0]), last)
    return spans


def inplace_layers(model: QModel, spans: dict[str, tuple[int, int]], mode: str,
                   slices: dict[str, Slice] | None = None,
                   views: dict[str, View] | None = None,
                   memo: dict | None = None) -> dict[str, tuple[str, int]]:
    """Outputs written over an input that dies at the same layer: output -> (input, shift). A layer that
    writes a Concat slice, or whose output is a view, does not run in place: its output is not a buffer
    of its own; nor does one over a view or a view's root (other tensors share those bytes). `memo`: see
    `memoized`."""
    anchors: dict[str, tuple[str, int]] = {}
    views = views or {}
    tied = tied_to_views(views)
    for step, layer in enumerate(model.layers):
        if (mode == "reshapes" and layer.op is not QOp.COPY) or layer.output in (slices or {}) or layer.output in views:
            continue
        for k, name in enumerate(layer.inputs):
            if name in tied or spans[name][1] != step:  # shared bytes, or read later: not to write over
                continue
            shift = memoized(memo, ("shift", layer.output, k), inplace_shift, layer, model.tensors, k, ALIGNMENT)
            if shift is not None:
                anchors[layer.output] = (name, shift)
                break
    return anchors


def memoized(memo: dict | None, key: tuple, compute, *args):
    """`compute(*args)`, kept in `memo` (if given) under `key`. For what depends on one layer or tensor alone
    (keyed by the layer's output or the tensor's name), not on the layers' order: `best_schedule` shares
    one memo between the orders it tries, which keep every layer and tensor."""
    if memo is None:
        return compute(*args)
    if key not in memo:
        memo[key] = compute(*args)
    return memo[key]


@dataclass(frozen=True)
class ScratchKey:
    """The planner's key for the scratch buffer of one layer. Not a str, so that no tensor name a model
    file chooses ("__scratch_0", say) can collide with it."""

    step: int

    def __str__(self) -> str:
        return f"scratch of layer {self.step}"


def scratch_name(step: int) -> ScratchKey:
    """The planner's key for the scratch buffer of the layer at `step`."""
    return ScratchKey(step)


def _tensor_planner(model: QModel, tying: Tying, memo: dict | None) -> ArenaPlanner:
    """A planner with the activations' buffers of `tying`, its groups made."""
    planner = ArenaPlanner(ALIGNMENT)
    for name, (first, last) in tying.spans.items():
        if name in tying.slices or name in tying.views:
            continue  # part of the Concat's output, or of the Slice's input
        anchor, shift = tying.anchors.get(name, (None, 0))
        nbytes = memoized(memo, ("nbytes", name), QTensor.nbytes.fget, model.tensors[name])
        planner.add_buffer(name, nbytes, first, last, anchor=anchor, shift=shift)
    planner.groups()
    return planner


def _granted_scratch(least_scratch: list[int], roomy: dict[int, int]) -> dict[int, int]:
    """The scratch bytes of each layer that gets scratch: `roomy`'s where it has the layer, else the least."""
    granted = {}
    for step, least in enumerate(least_scratch):
        size = roomy.get(step) or least
        if size > 0:
            granted[step] = size
    return granted


def _planner(tensors: ArenaPlanner, granted: dict[int, int]) -> ArenaPlanner:
    """`tensors`' planner with a scratch buffer for each layer in `granted`."""
    planner = tensors.copy()
    for step, size in granted.items():
        planner.add_buffer(scratch_name(step), size, step, step)
    return planner


def _lower_bound(tensor_live: dict[int, int], granted: dict[int, int]) -> int:
    """`ArenaPlanner.lower_bound` of `_planner(tensors, granted)` without making it: the activations'
    bytes alive at each step (`tensor_live`) plus the scratch of that step's layer, which lives for that
    step alone (steps with nothing alive add 0 and leave the peak as it is)."""
    totals = dict(tensor_live)
    for step, size in granted.items():
        totals[step] = totals.get(step, 0) + align_up(size, ALIGNMENT)
    return max(totals.values(), default=0)


def _tensor_offsets(spans, offsets: dict[str, int], slices: dict[str, Slice], views: dict[str, View]) -> dict[str, int]:
    """Every activation's offset: a Concat slice's is where its first element lies in the Concat's output,
    a view's where its first element lies in its root."""
    placed = {name: offsets[slices[name].concat] + slices[name].offset if name in slices else offsets[name]
              for name in spans if name not in views}
    for name in views:
        root, offset = root_of(name, views)
        placed[name] = placed[root] + offset
    return placed


@dataclass(frozen=True)
class Tying:
    """One way `plan_arena` tries of letting tensors share bytes: the slice views and Concat slices used,
    the in-place mode and its anchors, and the lifetimes that follow from them."""

    views: dict[str, View]
    slices: dict[str, Slice]
    mode: str
    spans: dict[str, tuple[int, int]]
    anchors: dict[str, tuple[str, int]]


@dataclass(frozen=True)
class PlanInputs:
    """What planning one model needs whatever scratch its layers get: the tyings to try, in the order
    `plan_arena` tries them (the earlier wins ties), a planner with each one's activations, and the
    scratch bytes each layer's kernel needs at the least."""

    tyings: list[Tying]
    planners: list[ArenaPlanner]  # by tying: its activations' buffers (scratch buffers are added per plan)
    tensor_live: list[dict[int, int]]  # by tying: the activations' bytes alive at each step
    least_scratch: list[int]
    # The last placement made for each (tying, order), filled as plans are made: the next plan of the
    # same tying and order (other scratch sizes) reuses the starts of the groups both place first.
    placements: dict[tuple[int, str], greedy.Placement] = field(default_factory=dict)


def plan_inputs(model: QModel, modes: tuple[str, ...] = INPLACE_MODES, slice_modes: tuple[bool, ...] = SLICE_MODES,
                memo: dict | None = None) -> PlanInputs:
    """Every combination of slice view mode, Concat slice mode and in-place mode, and the sizes.
    `memo`: see `memoized`."""
    all_views = slice_views(model)
    found = []
    for use_views in VIEW_MODES if all_views else (False,):
        views = all_views if use_views else {}
        tied = tied_to_views(views)
        writable = {name: piece for name, piece in slice_writes(model).items() if name not in tied}
        for use_slices in slice_modes if writable else (False,):
            slices = writable if use_slices else {}
            spans = view_lifetimes(slice_lifetimes(lifetimes(model), slices), views)
            for mode in modes:
                anchors = inplace_layers(model, spans, mode, slices, views, memo)
                found.append(Tying(views, slices, mode, spans, anchors))
    least = [memoized(memo, ("scratch", layer.output), kernels.scratch_bytes, layer, model.tensors)
             for layer in model.layers]
    planners = [_tensor_planner(model, tying, memo) for tying in found]
    return PlanInputs(found, planners, [live_bytes_per_step(p.groups()) for p in planners], least)


def plan_arena(model: QModel, modes: tuple[str, ...] = INPLACE_MODES,
               orders: tuple[str, ...] = tuple(greedy.ORDERS),
               slice_modes: tuple[bool, ...] = SLICE_MODES, roomy: dict[int, int] | None = None) -> ArenaPlan:
    """The smallest arena over the slice view modes, Concat slice modes, in-place modes and placement
    orders tried (the first on ties). `roomy`: layer index -> scratch bytes to give that layer instead of the least it
    needs (see `with_roomy_scratch`)."""
    return smallest_plan(plan_inputs(model, modes, slice_modes), orders, roomy or {})


def least_arena(model: QModel, below: int | None = None,
                memo: dict | None = None) -> int | None:
    """`plan_arena(model).size` if it is below `below` (or `below` is None), else None. `memo`: see `memoized`."""
    plan = smallest_plan(plan_inputs(model, memo=memo), tuple(greedy.ORDERS), {}, below)
    return None if plan is None else plan.size


def smallest_plan(inputs: PlanInputs, orders: tuple[str, ...], roomy: dict[int, int],
                  below: int | None = None) -> ArenaPlan | None:
    """The smallest arena over the tyings and placement orders (the first on ties); None if none is
    smaller than `below`. A candidate that cannot beat the best so far is cut short (it would not be
    kept): a tying whose lower bound is not below it is skipped, a placement stops once it reaches it."""
    best = None
    granted = _granted_scratch(inputs.least_scratch, roomy)
    for t, (tying, tensors, tensor_live) in enumerate(zip(inputs.tyings, inputs.planners, inputs.tensor_live)):
        bound = _lower_bound(tensor_live, granted)
        if best is not None:
            below = best.size
        if below is not None and bound >= below:
            continue
        planner = _planner(tensors, granted)
        for order in orders:
            placed = planner.plan_reusing(order, below, inputs.placements.get((t, order)))
            if placed is None:
                continue
            offsets, size, inputs.placements[t, order] = placed
            below = size
            best = ArenaPlan(
                size=size,
                offsets=_tensor_offsets(tying.spans, offsets, tying.slices, tying.views),
                scratch={step: (offsets[scratch_name(step)], n) for step, n in granted.items()},
                lower_bound=bound,
                buffers=list(planner.buffers),
                buffer_offsets=offsets,
                inplace=tying.anchors,
                slices=tying.slices,
                views=tying.views,
                strategy=f"slice views: {'on' if tying.views else 'off'}, concat slices: "
                         f"{'on' if tying.slices else 'off'}, in place: {tying.mode}, order: {order}",
            )
    return best


# How much the arena may grow, as a fraction of the least arena, so that kernels get the scratch of their
# faster paths. Measured on M4 (benchmarks/firmware.py): ResNet-8's two 16->16 3x3 convs then widen their
# columns, 17.1 M instead of 18.0 M instructions for 576 more bytes (1.7 %); KWS would need 5.4 % more arena
# for 0.7 % fewer instructions and keeps its least arena. 0 keeps the least arena everywhere.
DEFAULT_SCRATCH_GROWTH = 1 / 32


def with_roomy_scratch(model: QModel, plan: ArenaPlan, growth: float = DEFAULT_SCRATCH_GROWTH) -> ArenaPlan:
    """`plan`, with every layer whose kernel has a faster path given more scratch
    (kernels.roomy_scratch_bytes) wherever the arena stays within ``growth`` (a fraction) of ``plan``'s:
    layer by layer in execution order, each kept only if the arena stays within that bound and the
    producers that write Concat slices still do (a copy saved is worth more than the faster path)."""
    if growth < 0:
        raise ValueError(f"scratch growth must be 0 or more, got {growth}")
    limit = plan.size + int(plan.size * growth)
    # What a trial changes is one layer's scratch: the tyings and the least scratch are the same for all.
    inputs = plan_inputs(model)
    roomy: dict[int, int] = {}
    best = plan
    for step, layer in enumerate(model.layers):
        size = kernels.roomy_scratch_bytes(layer, model.tensors)
        if size <= inputs.least_scratch[step]:
            continue
        # None: the arena would exceed the limit (arenas of limit + 1 bytes or more are not looked for).
        trial = smallest_plan(inputs, tuple(greedy.ORDERS), {**roomy, step: size}, below=limit + 1)
        if (trial is not None and trial.slices.keys() == plan.slices.keys()
                and trial.views.keys() == plan.views.keys()):
            roomy[step], best = size, trial
    return dataclasses.replace(best, least_size=plan.least_size or plan.size)
