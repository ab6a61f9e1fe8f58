"""Arena planning for a model: tensor lifetimes and in-place layers -> offsets in one arena.

Activations and kernel scratch buffers share the arena. Graph inputs and outputs live in it too:
`invoke` copies the caller's input in and the result out, and the float API quantizes straight into
the input slot. A layer whose input dies with it may write its output over that input at a shift its
kernel allows (`inplace.py`); a reshape is then the same bytes and costs no code at all. The
producers of a Concat's inputs may write straight into their slices of its output (`concat.py`):
those inputs get no buffer, and the Concat's output is alive from its first slice's producer on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mcuq.plan import greedy
from mcuq.plan.buffers import Buffer
from mcuq.plan.concat import Slice, slice_writes
from mcuq.plan.inplace import inplace_shift
from mcuq.plan.planner import ArenaPlanner
from mcuq.plan.views import View, root_of, slice_views, tied_to_views, view_lifetimes
from mcuq.qir import kernels
from mcuq.qir.model import QModel, QOp

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
                   views: dict[str, View] | None = None) -> dict[str, tuple[str, int]]:
    """Outputs written over an input that dies at the same layer: output -> (input, shift). A layer that
    writes a Concat slice, or whose output is a view, does not run in place: its output is not a buffer
    of its own; nor does one over a view or a view's root (other tensors share those bytes)."""
    anchors: dict[str, tuple[str, int]] = {}
    views = views or {}
    tied = tied_to_views(views)
    for step, layer in enumerate(model.layers):
        if (mode == "reshapes" and layer.op is not QOp.COPY) or layer.output in (slices or {}) or layer.output in views:
            continue
        for k, name in enumerate(layer.inputs):
            if name in tied:
                continue
            shift = inplace_shift(layer, model.tensors, k, ALIGNMENT) if spans[name][1] == step else None
            if shift is not None:
                anchors[layer.output] = (name, shift)
                break
    return anchors


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


def _planner(model: QModel, spans: dict[str, tuple[int, int]], anchors: dict[str, tuple[str, int]],
             slices: dict[str, Slice], views: dict[str, View],
             roomy: dict[int, int]) -> tuple[ArenaPlanner, dict[int, int]]:
    planner = ArenaPlanner(ALIGNMENT)
    for name, (first, last) in spans.items():
        if name in slices or name in views:
            continue  # part of the Concat's output, or of the Slice's input
        anchor, shift = anchors.get(name, (None, 0))
        planner.add_buffer(name, model.tensors[name].nbytes, first, last, anchor=anchor, shift=shift)
    scratch_sizes = {}
    for step, layer in enumerate(model.layers):
        size = roomy.get(step) or kernels.scratch_bytes(layer, model.tensors)
        if size > 0:
            scratch_sizes[step] = size
            planner.add_buffer(scratch_name(step), size, step, step)
    return planner, scratch_sizes


def _tensor_offsets(spans, offsets: dict[str, int], slices: dict[str, Slice], views: dict[str, View]) -> dict[str, int]:
    """Every activation's offset: a Concat slice's is where its first element lies in the Concat's output,
    a view's where its first element lies in its root."""
    placed = {name: offsets[slices[name].concat] + slices[name].offset if name in slices else offsets[name]
              for name in spans if name not in views}
    for name in views:
        root, offset = root_of(name, views)
        placed[name] = placed[root] + offset
    return placed


def plan_arena(model: QModel, modes: tuple[str, ...] = INPLACE_MODES,
               orders: tuple[str, ...] = tuple(greedy.ORDERS),
               slice_modes: tuple[bool, ...] = SLICE_MODES, roomy: dict[int, int] | None = None) -> ArenaPlan:
    """The smallest arena over the slice view modes, Concat slice modes, in-place modes and placement
    orders tried (the first on ties). `roomy`: layer index -> scratch bytes to give that layer instead of the least it
    needs (see `with_roomy_scratch`)."""
    roomy = roomy or {}
    all_views = slice_views(model)
    best = None
    for use_views in VIEW_MODES if all_views else (False,):
        views = all_views if use_views else {}
        candidate = _best_plan(model, views, modes, orders, slice_modes, roomy)
        if best is None or candidate.size < best.size:
            best = candidate
    return best


def _best_plan(model: QModel, views: dict[str, View], modes: tuple[str, ...], orders: tuple[str, ...],
               slice_modes: tuple[bool, ...], roomy: dict[int, int]) -> ArenaPlan:
    """The smallest arena with these slice views, over the Concat slice modes, in-place modes and orders."""
    tied = tied_to_views(views)
    found = {name: piece for name, piece in slice_writes(model).items() if name not in tied}
    best = None
    for use_slices in slice_modes if found else (False,):
        slices = found if use_slices else {}
        spans = view_lifetimes(slice_lifetimes(lifetimes(model), slices), views)
        for mode in modes:
            anchors = inplace_layers(model, spans, mode, slices, views)
            planner, scratch_sizes = _planner(model, spans, anchors, slices, views, roomy)
            bound = planner.lower_bound()
            for order in orders:
                offsets, size = planner.plan(order)
                if best is None or size < best.size:
                    best = ArenaPlan(
                        size=size,
                        offsets=_tensor_offsets(spans, offsets, slices, views),
                        scratch={step: (offsets[scratch_name(step)], n) for step, n in scratch_sizes.items()},
                        lower_bound=bound,
                        buffers=list(planner.buffers),
                        buffer_offsets=offsets,
                        inplace=anchors,
                        slices=slices,
                        views=views,
                        strategy=f"slice views: {'on' if views else 'off'}, concat slices: "
                                 f"{'on' if slices else 'off'}, in place: {mode}, order: {order}",
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
    roomy: dict[int, int] = {}
    best = plan
    for step, layer in enumerate(model.layers):
        size = kernels.roomy_scratch_bytes(layer, model.tensors)
        if size <= kernels.scratch_bytes(layer, model.tensors):
            continue
        trial = plan_arena(model, roomy={**roomy, step: size})
        if (trial.size <= limit and trial.slices.keys() == plan.slices.keys()
                and trial.views.keys() == plan.views.keys()):
            roomy[step], best = size, trial
    return best
