"""What a planner places: buffers with a size and a lifetime in execution steps, and groups of buffers
at fixed distances from each other (a layer that runs in place puts its output at a fixed shift from
its input; a chain of such layers is one group, placed as a unit)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Buffer:
    name: str
    size: int  # bytes
    first_use: int  # first execution step (layer index) that touches it
    last_use: int  # last execution step that touches it (inclusive)

    def overlaps_in_time(self, other: Buffer) -> bool:
        return self.first_use <= other.last_use and other.first_use <= self.last_use

    def alive_at(self, step: int) -> bool:
        return self.first_use <= step <= self.last_use


@dataclass(frozen=True)
class Group:
    """Buffers whose offsets differ by fixed amounts: (buffer, offset from the group's start). Members
    may share bytes: only an in-place layer's input and output are alive at the same step, and the
    shift between them is one the layer's kernel allows."""

    members: tuple[tuple[Buffer, int], ...]

    @property
    def span(self) -> int:
        return max(rel + b.size for b, rel in self.members)

    @property
    def first_use(self) -> int:
        return min(b.first_use for b, _ in self.members)

    @property
    def last_use(self) -> int:
        return max(b.last_use for b, _ in self.members)

    @property
    def largest(self) -> int:
        return max(b.size for b, _ in self.members)

    @property
    def area(self) -> int:
        """Bytes times steps: how much of the arena's time-by-offset plane the group covers."""
        return sum(b.size * (b.last_use - b.first_use + 1) for b, _ in self.members)

    def live_bytes(self, step: int) -> int:
        """Bytes the group occupies at one step: the union of its members alive then."""
        return union_length([(rel, rel + b.size) for b, rel in self.members if b.alive_at(step)])


def union_length(intervals: list[tuple[int, int]]) -> int:
    """Bytes covered by a set of [start, end) intervals (overlaps counted once)."""
    total, reach = 0, None
    for start, end in sorted(intervals):
        reach = start if reach is None else max(reach, start)
        total += max(0, end - reach)
        reach = max(reach, end)
    return total


def make_groups(buffers: list[Buffer], anchors: dict[str, tuple[str, int]]) -> list[Group]:
    """Group buffers tied by anchors (name -> (anchor name, offset of name from the anchor's start)),
    with each group's offsets shifted so that its lowest member starts at 0."""
    by_name = {b.name: b for b in buffers}
    root: dict[str, tuple[str, int]] = {}

    def resolve(name: str) -> tuple[str, int]:
        if name not in root:
            if name in anchors:
                anchor, shift = anchors[name]
                top, rel = resolve(anchor)
                root[name] = (top, rel + shift)
            else:
                root[name] = (name, 0)
        return root[name]

    members: dict[str, list[tuple[Buffer, int]]] = {}
    for b in buffers:
        top, rel = resolve(b.name)
        members.setdefault(top, []).append((b, rel))
    groups = []
    for top in (b.name for b in buffers if b.name in members):
        low = min(rel for _, rel in members[top])
        groups.append(Group(tuple((b, rel - low) for b, rel in members[top])))
    assert sum(len(g.members) for g in groups) == len(by_name)
    return groups


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment
