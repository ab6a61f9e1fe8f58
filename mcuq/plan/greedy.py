"""First-fit placement in a chosen order (TFLM's GreedyMemoryPlanner with size-descending order).

Groups are placed one after the other; each goes at the lowest aligned offset where none of its
buffers overlaps, in bytes, an already placed buffer alive at the same time. Which order packs best
depends on the model, so the planner tries every order of `ORDERS` and keeps the smallest arena.

The lowest fit is at 0 or puts a member right above a conflicting buffer (above all of them
everything fits): those candidates are tried from the lowest up. Only the buffers placed so far that
share a step with a member conflict; `_Occupancy` finds them by step instead of scanning every placed
buffer, and each conflict forbids one open range of group starts, so a candidate is checked against
the merged ranges by bisection instead of against every conflict.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from mcuq.plan.buffers import Buffer, Group, align_up

# Sort keys: the group placed first gets the lowest offsets.
ORDERS: dict[str, Callable[[Group], tuple]] = {
    "size": lambda g: (-g.largest, g.first_use),  # TFLM's greedy by size
    "span": lambda g: (-g.span, g.first_use),
    "first_use": lambda g: (g.first_use, -g.span),
    "lifetime": lambda g: (g.first_use - g.last_use, -g.span),
    "area": lambda g: (-g.area, g.first_use),
}


class _Occupancy:
    """Placed buffers by step: the byte ranges [start, end) alive at each step, and those born at it."""

    def __init__(self) -> None:
        self.alive: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
        self.born: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)

    def add(self, buffer: Buffer, start: int) -> None:
        extent = (start, start + buffer.size)
        self.born[buffer.first_use].append(extent)
        for step in range(buffer.first_use, buffer.last_use + 1):
            self.alive[step].append(extent)

    def overlapping(self, buffer: Buffer) -> list[tuple[int, int]]:
        """Byte ranges of the placed buffers alive at some step of `buffer`'s lifetime, each once: those
        alive at its first step, and those born later within its lifetime."""
        found = list(self.alive.get(buffer.first_use, ()))
        for step in range(buffer.first_use + 1, buffer.last_use + 1):
            found.extend(self.born.get(step, ()))
        return found


def forbidden_starts(conflicts: list[tuple[int, int, int, int]]) -> tuple[list[int], list[int]]:
    """The group starts that make a member overlap a conflicting buffer, as disjoint open ranges
    (lows, highs), sorted. A conflict (rel, size, start, end): the member at `rel` of `size` bytes
    overlaps [start, end) for every group start strictly between start - rel - size and end - rel."""
    ranges = sorted((start - rel - size, end - rel) for rel, size, start, end in conflicts)
    lows: list[int] = []
    highs: list[int] = []
    for low, high in ranges:
        if high - low <= 1:
            continue  # no integer strictly inside
        if highs and low < highs[-1]:  # overlaps the previous range (touching ends leave a gap of one start)
            highs[-1] = max(highs[-1], high)
        else:
            lows.append(low)
            highs.append(high)
    return lows, highs


def lowest_fit(conflicts: list[tuple[int, int, int, int]], alignment: int) -> int:
    """The lowest candidate group start at which no member overlaps a conflict (rel, size, start, end)."""
    tops = [end for *_, end in conflicts]
    candidates = sorted({0, align_up(max(tops, default=0), alignment)}
                        | {align_up(end - rel, alignment) for rel, _, _, end in conflicts if end > rel})
    lows, highs = forbidden_starts(conflicts)
    for base in candidates:
        k = bisect_left(lows, base) - 1  # the last range starting below base: the only one that may hold it
        if k < 0 or base >= highs[k]:
            return base
    raise AssertionError("a start above every conflict always fits")


@dataclass(frozen=True)
class Placement:
    """A finished placement: the groups in the order they were placed, and their starts."""

    sequence: tuple[Group, ...]
    starts: tuple[int, ...]


def common_prefix(sequence: list[Group], earlier: Placement | None) -> int:
    """How many groups `sequence` starts with that `earlier` placed first too, in the same order. First
    fit puts each group where the groups before it leave room, so those get the same starts again."""
    if earlier is None:
        return 0
    count = 0
    for group, before in zip(sequence, earlier.sequence):
        if group != before:
            break
        count += 1
    return count


def place_reusing(groups: list[Group], order: str, alignment: int, cutoff: int | None = None,
                  earlier: Placement | None = None) -> tuple[list[int], Placement] | None:
    """`place`, taking the starts of the groups it places first from `earlier` (a placement of other
    groups in the same order) as far as the two agree; and the placement made, to reuse in turn."""
    key = ORDERS[order]
    sequence = sorted(range(len(groups)), key=lambda i: (key(groups[i]), i))
    ordered = [groups[i] for i in sequence]
    reused = common_prefix(ordered, earlier)
    bases: list[int] = [0] * len(groups)
    occupancy = _Occupancy()
    for j, (i, group) in enumerate(zip(sequence, ordered)):
        if j < reused:
            bases[i] = earlier.starts[j]
        else:
            conflicts = [(rel, b.size, start, end)
                         for b, rel in group.members for start, end in occupancy.overlapping(b)]
            bases[i] = lowest_fit(conflicts, alignment)
        if cutoff is not None and bases[i] + group.span >= cutoff:
            return None
        for b, rel in group.members:
            occupancy.add(b, bases[i] + rel)
    return bases, Placement(tuple(ordered), tuple(bases[i] for i in sequence))


def place(groups: list[Group], order: str, alignment: int, cutoff: int | None = None) -> list[int] | None:
    """The start offset of each group (every member offset within a group is a multiple of alignment).
    None as soon as the arena reaches `cutoff` bytes: a caller looking for a smaller arena is done."""
    placed = place_reusing(groups, order, alignment, cutoff)
    return None if placed is None else placed[0]
