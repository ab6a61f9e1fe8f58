"""Arena planning: tensor lifetimes -> offsets in one static arena.

The interface is a list of buffers (`add_buffer(name, size, first_use, last_use)`); a strategy
returns their offsets. Activations and kernel scratch buffers share the arena. Graph inputs and
outputs live in the arena too: `invoke` copies the caller's input in and the result out, and the
float API quantizes straight into the input slot. A reshape whose input dies with it shares its
input's bytes (the generated code then does nothing for it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import golden
from ..qir import QModel, QOp
from . import greedy
from .buffers import Buffer, align_up

ALIGNMENT = 4  # int32 scratch and word-wise loads need 4-byte alignment
STRATEGIES = {"greedy_by_size": greedy.place}


@dataclass
class ArenaPlan:
    size: int
    offsets: dict[str, int]  # activation tensor -> byte offset
    scratch: dict[int, tuple[int, int]]  # layer index -> (offset, bytes), only layers that need scratch
    lower_bound: int  # the largest set of buffers alive at one step: no plan can be smaller
    buffers: list[Buffer] = field(default_factory=list)


class ArenaPlanner:
    def __init__(self) -> None:
        self.buffers: list[Buffer] = []

    def add_buffer(self, name: str, size: int, first_use: int, last_use: int) -> None:
        self.buffers.append(Buffer(name, align_up(size, ALIGNMENT), first_use, last_use))

    def lower_bound(self) -> int:
        steps = {b.first_use for b in self.buffers}
        return max(
            (sum(b.size for b in self.buffers if b.first_use <= s <= b.last_use) for s in steps), default=0
        )

    def plan(self, strategy: str = "greedy_by_size") -> tuple[dict[str, int], int]:
        offsets = STRATEGIES[strategy](self.buffers, ALIGNMENT)
        size = max((o + b.size for o, b in zip(offsets, self.buffers)), default=0)
        return {b.name: o for b, o in zip(self.buffers, offsets)}, size


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


def reshape_aliases(model: QModel, spans: dict[str, tuple[int, int]]) -> dict[str, str]:
    """Copies (reshapes) whose input is read by nothing after them: the output can be the same bytes.
    Maps each such output to the tensor whose buffer it shares (following chains of copies)."""
    aliases: dict[str, str] = {}
    for step, layer in enumerate(model.layers):
        (source,) = layer.inputs if layer.op is QOp.COPY else (None,)
        if source is not None and spans[source][1] == step:
            aliases[layer.output] = aliases.get(source, source)
    return aliases


def plan_arena(model: QModel, strategy: str = "greedy_by_size") -> ArenaPlan:
    spans = lifetimes(model)
    aliases = reshape_aliases(model, spans)
    # A buffer shared by aliases lives from its first tensor's birth to its last tensor's death.
    merged = {name: list(span) for name, span in spans.items() if name not in aliases}
    for alias, root in aliases.items():
        merged[root][1] = max(merged[root][1], spans[alias][1])
    planner = ArenaPlanner()
    for name, (first, last) in merged.items():
        planner.add_buffer(name, model.tensors[name].nbytes, first, last)
    scratch_sizes = {}
    for step, layer in enumerate(model.layers):
        size = golden.scratch_bytes(layer, model.tensors)
        if size > 0:
            scratch_sizes[step] = size
            planner.add_buffer(f"__scratch_{step}", size, step, step)
    offsets, size = planner.plan(strategy)
    scratch = {step: (offsets.pop(f"__scratch_{step}"), n) for step, n in scratch_sizes.items()}
    offsets.update({alias: offsets[root] for alias, root in aliases.items()})
    return ArenaPlan(size=size, offsets=offsets, scratch=scratch, lower_bound=planner.lower_bound(),
                     buffers=planner.buffers)
