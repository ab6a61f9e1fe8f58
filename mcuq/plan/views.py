"""Slices without copies: a Slice whose box is one contiguous block of its input (a crop of H rows,
a Split along H, a channel range of a 1x1 or [N, C] tensor, the whole tensor) is a view: its output
gets no buffer, it lies inside its input's bytes at the block's offset, and the C does nothing for it.
A reshape of a view is a view too (at offset 0), so ``x[:, -1]`` (a slice, then a reshape that drops
the axis) costs nothing.

The view's source (its "root": the first tensor up a chain of views that has a buffer of its own) then
stays alive until the view's last reader. Nothing may write over a root or its views in place while
any of them is still read, so neither roots nor views ever anchor an in-place layer, and neither is
written as a slice of a Concat's output (`arena.plan_arena`). A channel range of many pixels is not
one block: it keeps the strided copy kernel (no consumer kernel reads input with a pixel stride).
Placement is a memory matter: the golden model still runs the Slice.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcuq.qir.model import QModel, QOp, contiguous_block_offset


@dataclass(frozen=True)
class View:
    """A tensor that lies inside another's bytes."""

    source: str  # the tensor it is a part of (a buffer, or another view)
    offset: int  # bytes from the start of ``source`` to its first element


def slice_views(model: QModel) -> dict[str, View]:
    """Slice outputs (and reshapes of them) that are views of their input: output -> its view."""
    found: dict[str, View] = {}
    for layer in model.layers:
        source = model.tensors[layer.inputs[0]]
        out = model.tensors[layer.output]
        if source.dtype != out.dtype or layer.output in model.inputs:
            continue
        if layer.op is QOp.COPY and layer.inputs[0] in found:
            found[layer.output] = View(source.name, 0)
        elif layer.op is QOp.SLICE:
            block = contiguous_block_offset(source.shape, layer.params, out.shape)
            if block is not None:
                found[layer.output] = View(source.name, block * source.nbytes // source.size)
    return found


def root_of(name: str, views: dict[str, View]) -> tuple[str, int]:
    """The buffer a (chain of) view(s) lies in and the byte offset inside it."""
    offset = 0
    while name in views:
        offset += views[name].offset
        name = views[name].source
    return name, offset


def view_lifetimes(spans: dict[str, tuple[int, int]], views: dict[str, View]) -> dict[str, tuple[int, int]]:
    """Lifetimes with each root alive until the last reader of any view inside it."""
    spans = dict(spans)
    for name in views:
        root, _ = root_of(name, views)
        first, last = spans[root]
        spans[root] = (first, max(last, spans[name][1]))
    return spans


def tied_to_views(views: dict[str, View]) -> set[str]:
    """Every view and every root: tensors whose bytes another tensor shares without an in-place layer."""
    return set(views) | {root_of(name, views)[0] for name in views}
