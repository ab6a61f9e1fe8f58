"""What a planner places: buffers with a size and a lifetime in execution steps, and groups of buffers
at fixed distances from each other (a layer that runs in place puts its output at a fixed shift from
its input; a chain of such layers is one group, placed as a unit)."""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import accumulate


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
    # Summaries the placement orders sort by, worked out once here; not part of equality.
    span: int = field(init=False, repr=False, compare=False)  # bytes from the group's start to its top
    first_use: int = field(init=False, repr=False, compare=False)
    last_use: int = field(init=False, repr=False, compare=False)
    largest: int = field(init=False, repr=False, compare=False)  # the largest member's bytes
    area: int = field(init=False, repr=False, compare=False)  # bytes times steps over the members

    def __post_init__(self) -> None:
        summaries = dict(
            span=max(rel + b.size for b, rel in self.members),
            first_use=min(b.first_use for b, _ in self.members),
            last_use=max(b.last_use for b, _ in self.members),
            largest=max(b.size for b, _ in self.members),
            area=sum(b.size * (b.last_use - b.first_use + 1) for b, _ in self.members),
        )
        for name, value in summaries.items():
            object.__setattr__(self, name, value)  # the way to set a frozen dataclass's field

    def live_bytes(self, step: int) -> int:
        """Bytes the group occupies at one step: the union of its members alive then."""
        return union_length([(rel, rel + b.size) for b, rel in self.members if b.alive_at(step)])

    def live_bytes_by_step(self) -> dict[int, int]:
        """`live_bytes` at every step where a member is alive (0 at the others)."""
        alive: dict[int, list[tuple[int, int]]] = {}
        for b, rel in self.members:
            for step in range(b.first_use, b.last_use + 1):
                alive.setdefault(step, []).append((rel, rel + b.size))
        return {step: union_length(extents) for step, extents in alive.items()}


def live_bytes_per_step(groups: list[Group]) -> dict[int, int]:
    """The bytes the groups occupy at each step from the first use to the last: the sum of
    `Group.live_bytes`, by a difference array."""
    if not groups:
        return {}
    first = min(g.first_use for g in groups)
    steps = max(g.last_use for g in groups) + 1 - first
    changes = [0] * (steps + 1)  # changes[i]: bytes that start (+) or stop (-) being alive at step first + i
    for g in groups:
        if len(g.members) == 1:
            changes[g.first_use - first] += g.span
            changes[g.last_use + 1 - first] -= g.span
        else:
            for step, live in g.live_bytes_by_step().items():
                changes[step - first] += live
                changes[step + 1 - first] -= live
    return dict(enumerate(accumulate(changes[:-1]), start=first))


def peak_live_bytes(groups: list[Group]) -> int:
    """The most bytes the groups occupy at one step (0 without groups)."""
    return max(live_bytes_per_step(groups).values(), default=0)


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
