"""The arena over the layers as a picture: a self-contained SVG built from the report's memory data.

x is the execution step (the input copy, each layer, the output copy), y the byte offset in the arena
(0 at the bottom). Each tensor or scratch buffer is one rectangle spanning its lifetime; an in-place
layer shows as its output rectangle overlapping its input's at the step they share. A black step line
gives the bytes alive at each step: its maximum is the lower bound.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

from mcuq.codegen.names import xml_text

WIDTH, HEIGHT = 960, 560
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 56, 44
COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")
SCRATCH = "#a0a0a0"
FONT = 'font-family="sans-serif"'


def _nice_step(span: int, ticks: int = 6) -> int:
    raw = max(span / ticks, 1)
    power = 10 ** math.floor(math.log10(raw))
    return int(next(m * power for m in (1, 2, 5, 10) if m * power >= raw))


class _Axes:
    """Steps -1 .. steps (input copy, layers, output copy) across, bytes 0 .. arena up."""

    def __init__(self, steps: int, arena: int):
        self.first = -1
        self.columns = steps + 2
        self.arena = max(arena, 1)
        self.col_w = (WIDTH - LEFT - RIGHT) / self.columns
        self.plot_h = HEIGHT - TOP - BOTTOM

    def x(self, step: float) -> float:
        return LEFT + (step - self.first) * self.col_w

    def y(self, offset: float) -> float:
        return TOP + self.plot_h - offset * self.plot_h / self.arena


def _text(x: float, y: float, text: str, anchor: str = "middle", size: int = 10, extra: str = "") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT}{extra}>'
            f"{escape(text)}</text>")


def _buffer_rect(axes: _Axes, buf: dict, color: str) -> str:
    x0, x1 = axes.x(buf["first_use"]), axes.x(buf["last_use"] + 1)
    y0, y1 = axes.y(buf["offset"] + buf["size"]), axes.y(buf["offset"])
    # Buffer names are the model's tensor names: each goes through xml_text on its own.
    title = (f'{xml_text(buf["name"])}: {buf["size"]:,} B at offset {buf["offset"]:,}, '
             f'steps {buf["first_use"]} to {buf["last_use"]}')
    if buf.get("inplace_of"):
        title += f' (in place over {xml_text(buf["inplace_of"])}, shift {buf["shift"]} B)'
    parts = [f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{max(y1 - y0, 0.5):.1f}" '
             f'fill="{color}" fill-opacity="0.72" stroke="#ffffff" stroke-width="0.6">'
             f"<title>{title}</title></rect>"]
    if x1 - x0 >= 6 * len(buf["label"]) + 4 and y1 - y0 >= 12:
        parts.append(_text((x0 + x1) / 2, (y0 + y1) / 2 + 3.5, buf["label"], extra=' fill="#111111"'))
    return "".join(parts)


def _live_line(axes: _Axes, live: list[int]) -> str:
    points = []
    for i, value in enumerate(live):
        step = axes.first + i
        points += [f"{axes.x(step):.1f},{axes.y(value):.1f}", f"{axes.x(step + 1):.1f},{axes.y(value):.1f}"]
    return f'<polyline points="{" ".join(points)}" fill="none" stroke="#000000" stroke-width="1.5"/>'


def _x_axis(axes: _Axes, steps: int) -> list[str]:
    every = max(1, math.ceil(axes.columns / 40))
    out = []
    for step in range(-1, steps + 1):
        if step in (-1, steps) or step % every == 0:
            label = "in" if step == -1 else "out" if step == steps else str(step)
            out.append(_text(axes.x(step + 0.5), HEIGHT - BOTTOM + 14, label))
    out.append(_text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 8, "execution step (layer index)", size=11))
    return out


def _y_axis(axes: _Axes, arena: int) -> list[str]:
    step = _nice_step(arena)
    out = []
    for value in range(0, arena + 1, step):
        y = axes.y(value)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e4e4e4"/>')
        out.append(_text(LEFT - 6, y + 3.5, f"{value:,}", anchor="end"))
    out.append(_text(16, TOP + axes.plot_h / 2, "arena offset (bytes)", size=11,
                     extra=f' transform="rotate(-90 16 {TOP + axes.plot_h / 2:.1f})"'))
    return out


def render(memory: dict, title: str) -> str:
    """`memory`: the report's memory section (arena_bytes, lower_bound, strategy, steps, buffers,
    live_bytes); returns the SVG document."""
    arena, steps = memory["arena_bytes"], memory["steps"]
    axes = _Axes(steps, arena)
    body = [f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>', *_y_axis(axes, arena)]
    colored = 0
    for buf in memory["buffers"]:
        color = SCRATCH if buf["kind"] == "scratch" else COLORS[colored % len(COLORS)]
        colored += buf["kind"] != "scratch"
        body.append(_buffer_rect(axes, buf, color))
    body.append(_live_line(axes, memory["live_bytes"]))
    body.append(f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{axes.plot_h}" '
                f'fill="none" stroke="#444444"/>')
    body += _x_axis(axes, steps)
    body.append(_text(LEFT, 22, f"{title}: arena {arena:,} B, lower bound {memory['lower_bound']:,} B",
                      anchor="start", size=14, extra=' font-weight="bold"'))
    body.append(_text(LEFT, 42, f"{memory['strategy']}; black line: bytes alive at each step (its "
                      "maximum is the lower bound); grey: kernel scratch; hover a block for details",
                      anchor="start", size=11))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label={quoteattr(title + " arena")}>\n'
            + "\n".join(body) + "\n</svg>\n")
