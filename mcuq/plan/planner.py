"""The planner interface (TFLM's MicroMemoryPlanner): `add_buffer(name, size, first_use, last_use)`,
then `plan(order)` -> offsets and arena size. A buffer may be anchored to another at a fixed shift
(an in-place layer's output over its input); anchored buffers are placed together as one group."""

from __future__ import annotations

from mcuq.plan import greedy
from mcuq.plan.buffers import Buffer, Group, align_up, make_groups, peak_live_bytes


class ArenaPlanner:
    def __init__(self, alignment: int) -> None:
        self.alignment = alignment
        self.buffers: list[Buffer] = []
        self.anchors: dict[str, tuple[str, int]] = {}
        self._names: set = set()
        self._targets: set = set()  # the buffers some buffer is anchored to
        self._groups: list[Group] | None = None  # made once for the lower bound and every order

    def add_buffer(self, name: str, size: int, first_use: int, last_use: int, *,
                   anchor: str | None = None, shift: int = 0) -> None:
        """With `anchor`, the buffer starts `shift` bytes (a multiple of the alignment, may be
        negative) from the start of the buffer named `anchor`, and may overlap it."""
        if name in self._names:
            raise ValueError(f"buffer {name!r} added twice")
        if shift % self.alignment:
            raise ValueError(f"buffer {name!r}: shift {shift} is not a multiple of {self.alignment}")
        if last_use < first_use:
            raise ValueError(f"buffer {name!r}: last use {last_use} is before first use {first_use}")
        buffer = Buffer(name, align_up(size, self.alignment), first_use, last_use)
        # A buffer tied to no other is a group of its own, the last in `make_groups`' order: add it to the
        # groups made already instead of making them all again.
        alone = anchor is None and name not in self._targets
        if self._groups is not None and alone:
            self._groups.append(Group(((buffer, 0),)))
        else:
            self._groups = None
        self._names.add(name)
        self.buffers.append(buffer)
        if anchor is not None:
            self.anchors[name] = (anchor, shift)
            self._targets.add(anchor)

    def copy(self) -> ArenaPlanner:
        """A planner with the same buffers (and groups, if made), to add more to."""
        twin = ArenaPlanner(self.alignment)
        twin.buffers, twin.anchors = list(self.buffers), dict(self.anchors)
        twin._names, twin._targets = set(self._names), set(self._targets)
        twin._groups = None if self._groups is None else list(self._groups)
        return twin

    def groups(self) -> list[Group]:
        if self._groups is None:
            self._groups = make_groups(self.buffers, self.anchors)
        return self._groups

    def lower_bound(self) -> int:
        """The most bytes alive at one step (an in-place pair counts its union once): no placement of
        these buffers can use less."""
        return peak_live_bytes(self.groups())

    def plan(self, order: str = "size", cutoff: int | None = None) -> tuple[dict[str, int], int] | None:
        """Offsets and arena size with the groups placed in `order`; None if the arena would be
        `cutoff` bytes or more."""
        placed = self.plan_reusing(order, cutoff)
        return None if placed is None else placed[:2]

    def plan_reusing(self, order: str, cutoff: int | None = None, earlier: greedy.Placement | None = None
                     ) -> tuple[dict[str, int], int, greedy.Placement] | None:
        """`plan`, reusing what `earlier` (a placement in the same order) placed first as far as it
        agrees (`greedy.place_reusing`); and the placement made."""
        groups = self.groups()
        placed = greedy.place_reusing(groups, order, self.alignment, cutoff, earlier)
        if placed is None:
            return None
        bases, placement = placed
        offsets = {b.name: base + rel for g, base in zip(groups, bases) for b, rel in g.members}
        size = max((offsets[b.name] + b.size for b in self.buffers), default=0)
        return offsets, size, placement
