"""Greedy-by-size placement (the strategy of TFLM's GreedyMemoryPlanner).

Buffers are placed largest first; each goes at the lowest aligned offset where it overlaps no
already placed buffer whose lifetime overlaps its own.
"""

from __future__ import annotations

from .buffers import Buffer, align_up


def place(buffers: list[Buffer], alignment: int) -> list[int]:
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i].size, buffers[i].first_use, i))
    offsets: list[int | None] = [None] * len(buffers)
    placed: list[int] = []
    for i in order:
        buf = buffers[i]
        # Intervals in the arena taken by buffers alive at the same time, lowest first.
        taken = sorted(
            (offsets[j], offsets[j] + buffers[j].size) for j in placed if buffers[j].overlaps_in_time(buf)
        )
        offset = 0
        for start, end in taken:
            if offset + buf.size <= start:
                break
            offset = max(offset, align_up(end, alignment))
        offsets[i] = offset
        placed.append(i)
    return [int(o) for o in offsets]
