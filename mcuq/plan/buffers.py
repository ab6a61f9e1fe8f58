"""What a planner places: buffers with a size and a lifetime in execution steps."""

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


def align_up(value: int, alignment: int) -> int:
    return (value + alignment - 1) // alignment * alignment
