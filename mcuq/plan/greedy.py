"""First-fit placement in a chosen order (TFLM's GreedyMemoryPlanner with size-descending order).

Groups are placed one after the other; each goes at the lowest aligned offset where none of its
buffers overlaps, in bytes, an already placed buffer alive at the same time. Which order packs best
depends on the model, so the planner tries every order of `ORDERS` and keeps the smallest arena.
"""

from __future__ import annotations

from collections.abc import Callable

from mcuq.plan.buffers import Buffer, Group, align_up

# Sort keys: the group placed first gets the lowest offsets.
ORDERS: dict[str, Callable[[Group], tuple]] = {
    "size": lambda g: (-g.largest, g.first_use),  # TFLM's greedy by size
    "span": lambda g: (-g.span, g.first_use),
    "first_use": lambda g: (g.first_use, -g.span),
    "lifetime": lambda g: (g.first_use - g.last_use, -g.span),
    "area": lambda g: (-g.area, g.first_use),
}


def _fits(base: int, conflicts: list[tuple[int, Buffer, int, Buffer]]) -> bool:
    return all(base + rel + b.size <= start or start + other.size <= base + rel for rel, b, start, other in conflicts)


def place(groups: list[Group], order: str, alignment: int) -> list[int]:
    """The start offset of each group (every member offset within a group is a multiple of alignment)."""
    key = ORDERS[order]
    sequence = sorted(range(len(groups)), key=lambda i: (key(groups[i]), i))
    bases: list[int] = [0] * len(groups)
    placed: list[tuple[Buffer, int]] = []  # (buffer, absolute offset)
    for i in sequence:
        group = groups[i]
        conflicts = [(rel, b, start, other) for b, rel in group.members for other, start in placed
                     if b.overlaps_in_time(other)]
        # The lowest fit is at 0 or puts a member right above a conflicting buffer; above all of
        # them everything fits.
        tops = [start + other.size for _, _, start, other in conflicts]
        candidates = sorted({0, align_up(max(tops, default=0), alignment)}
                            | {align_up(top - rel, alignment) for top, (rel, *_) in zip(tops, conflicts) if top > rel})
        bases[i] = next(base for base in candidates if _fits(base, conflicts))
        placed.extend((b, bases[i] + rel) for b, rel in group.members)
    return bases
