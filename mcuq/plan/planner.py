"""The planner interface (TFLM's MicroMemoryPlanner): `add_buffer(name, size, first_use, last_use)`,
then `plan(order)` -> offsets and arena size. A buffer may be anchored to another at a fixed shift
(an in-place layer's output over its input); anchored buffers are placed together as one group."""

from __future__ import annotations

from mcuq.plan import greedy
from mcuq.plan.buffers import Buffer, Group, align_up, make_groups


class ArenaPlanner:
    def __init__(self, alignment: int) -> None:
        self.alignment = alignment
        self.buffers: list[Buffer] = []
        self.anchors: dict[str, tuple[str, int]] = {}

    def add_buffer(self, name: str, size: int, first_use: int, last_use: int, *,
                   anchor: str | None = None, shift: int = 0) -> None:
        """With `anchor`, the buffer starts `shift` bytes (a multiple of the alignment, may be
        negative) from the start of the buffer named `anchor`, and may overlap it."""
        if any(b.name == name for b in self.buffers):
            raise ValueError(f"buffer {name!r} added twice")
        if shift % self.alignment:
            raise ValueError(f"buffer {name!r}: shift {shift} is not a multiple of {self.alignment}")
        self.buffers.append(Buffer(name, align_up(size, self.alignment), first_use, last_use))
        if anchor is not None:
            self.anchors[name] = (anchor, shift)

    def groups(self) -> list[Group]:
        return make_groups(self.buffers, self.anchors)

    def lower_bound(self) -> int:
        """The most bytes alive at one step (an in-place pair counts its union once): no placement of
        these buffers can use less."""
        groups = self.groups()
        steps = range(min((b.first_use for b in self.buffers), default=0),
                      max((b.last_use for b in self.buffers), default=-1) + 1)
        return max((sum(g.live_bytes(s) for g in groups) for s in steps), default=0)

    def plan(self, order: str = "size") -> tuple[dict[str, int], int]:
        groups = self.groups()
        bases = greedy.place(groups, order, self.alignment)
        offsets = {b.name: base + rel for g, base in zip(groups, bases) for b, rel in g.members}
        size = max((offsets[b.name] + b.size for b in self.buffers), default=0)
        return offsets, size
