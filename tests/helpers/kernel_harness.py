"""The C-calling harness of the kernel tests: one qir layer through its runtime_c kernel, built for the
host and loaded with cffi (tests/helpers/c_kernels.py), called the way the generated model calls it,
and checked against the golden model.

The layer's view (`mcuq.codegen.views`) gives the structs, their field values and the kernel calls;
this module only lays the layer's tensors out in one arena (the way a test asks: apart, the output over
an input, the output as a channel slice of a wider tensor, with the least or the roomy scratch) and
turns the view's values into cffi objects. cffi takes the same dicts and tuples as the C initializers
the templates print, so a kernel's call is written once, in its view, for the int8 and int16 kernels
alike. `check` / `check16` compare a layer's C output with ``golden.run_layer``; `check` also runs the
layer in place at the largest shift the planner allows, with the roomy scratch, and writing a Concat
channel slice."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcuq import golden, qir
from mcuq.codegen import views
from mcuq.plan import inplace
from mcuq.qir import kernels
from mcuq.qir.kernels import InPlace, SliceWrite
from mcuq.qir.model import DTYPE_NUMPY, Layer, QTensor
from tests.helpers.c_kernels import load


def i8_ptr(ffi, a: np.ndarray):
    return ffi.from_buffer("int8_t[]", a)


def i32_ptr(ffi, a: np.ndarray):
    return ffi.from_buffer("int32_t[]", a)


def c_dims(ffi, shape):
    n, h, w, c = shape
    return ffi.new("mcuq_dims *", {"n": n, "h": h, "w": w, "c": c})


# --------------------------------------------------------------------------------------------------
# one layer in one arena, through its view
# --------------------------------------------------------------------------------------------------


ALIGN = 4
GUARD = 16  # random bytes around every region: a kernel that writes outside its output is caught


def _aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _random_bytes(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size=n, dtype=np.int8)


@dataclass
class Layout:
    """Byte offsets of one layer's tensors in an arena, and where its output rows are."""

    size: int
    placement: views.Placement
    rows: int  # output rows (pixels) as written
    row_bytes: int  # bytes of one output row
    row_stride: int  # bytes between output rows


def layout(layer: Layer, tensors: dict[str, QTensor], inplace: tuple[int, int] | None = None,
           channel_slice: tuple[int, int] | None = None, roomy: bool = False,
           scratch_size: int | None = None) -> Layout:
    """The arena of one layer. ``inplace = (k, shift)``: the output starts ``shift`` bytes after input
    k's start (as the planner lays out a layer that runs in place). ``channel_slice = (first, stride)``:
    the output is channels [first, first + C) of pixels ``stride`` channels wide, as a Concat's output
    the producer writes into. ``roomy``: the scratch of the kernel's faster path instead of the least;
    ``scratch_size``: exactly that many bytes (the edges of a path's need)."""
    out = tensors[layer.output]
    item = np.dtype(DTYPE_NUMPY[out.dtype]).itemsize
    channels = out.shape[-1] if out.shape else 1
    first, stride = channel_slice or (0, channels)
    rows = out.size // channels
    out_span = ((rows - 1) * stride + channels) * item  # bytes from the first output byte to the last
    at, offsets = GUARD, []
    for name in layer.inputs:
        offsets.append(at)
        at = _aligned(at + tensors[name].nbytes + GUARD)
    if inplace is not None:
        k, shift = inplace
        start = offsets[k] + shift
        if start < GUARD:  # room before the input for an output that starts before it
            offsets = [o + _aligned(GUARD - start) for o in offsets]
            at += _aligned(GUARD - start)
            start = offsets[k] + shift
        at = max(at, _aligned(start + out_span + GUARD))
    else:
        start = at + first * item
        at = _aligned(start + out_span + GUARD)
    least = kernels.scratch_bytes(layer, tensors)
    size = max(least, kernels.roomy_scratch_bytes(layer, tensors)) if roomy else least
    size = size if scratch_size is None else scratch_size
    scratch = (at, size) if size else None
    at = _aligned(at + size + GUARD)
    placement = views.Placement(tuple(offsets), start, scratch, stride if channel_slice else None)
    return Layout(at, placement, rows, channels * item, stride * item)


def _ptr(ffi, base, offset: int, ctype: str):
    return ffi.cast(f"{ctype} *", base + offset)


class _Objects:
    """The cffi objects of one view: its arrays, its structs (which may point to the arrays)."""

    def __init__(self, ffi, view: views.OpView):
        self.ffi = ffi
        self.keep = {a.name: np.ascontiguousarray(a.values, dtype=np.dtype(a.ctype.removesuffix("_t"))).reshape(-1)
                     for a in view.arrays}
        self.arrays = {a.name: ffi.from_buffer(f"{a.ctype}[]", self.keep[a.name]) for a in view.arrays}
        self.structs = {s.name: ffi.new(f"{s.ctype}[]" if s.count is not None else f"{s.ctype} *",
                                        self._value(s.value)) for s in view.structs}

    def _value(self, value):
        if isinstance(value, views.Symbol):
            return self.arrays[value.name]
        if isinstance(value, dict):
            return {k: self._value(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return [self._value(v) for v in value]
        return int(value)

    def argument(self, arg, arena):
        ffi = self.ffi
        if isinstance(arg, views.Arena):
            return _ptr(ffi, arena, arg.offset, arg.ctype)
        if isinstance(arg, views.Ref):
            struct = self.structs[arg.name]
            return struct if arg.index is None else ffi.addressof(struct, arg.index)
        if isinstance(arg, views.Symbol):
            return self.arrays[arg.name]
        if isinstance(arg, views.Context):
            buf = ffi.NULL if arg.offset is None else ffi.cast("void *", arena + arg.offset)
            return ffi.new("mcuq_context *", {"buf": buf, "size": arg.size})
        return int(arg)


def run_c(layer: Layer, inputs: list[np.ndarray], tensors: dict[str, QTensor],
          inplace: tuple[int, int] | None = None, channel_slice: tuple[int, int] | None = None,
          roomy: bool = False, scratch_size: int | None = None) -> np.ndarray:
    """Run one layer through its C kernel(s); asserts MCUQ_OK and that no byte outside the output
    (and the scratch) changed, except input bytes the output overlaps. Returns the output."""
    ffi, lib = load()
    arr = layout(layer, tensors, inplace, channel_slice, roomy, scratch_size)
    memory = _random_bytes(arr.size, arr.size)
    for offset, x, name in zip(arr.placement.inputs, inputs, layer.inputs):
        data = np.ascontiguousarray(x, dtype=DTYPE_NUMPY[tensors[name].dtype]).view(np.int8).reshape(-1)
        memory[offset : offset + data.size] = data
    before = memory.copy()
    view = views.op_view(layer, tensors, arr.placement)
    objects = _Objects(ffi, view)
    arena = ffi.cast("int8_t *", ffi.from_buffer(memory))
    for call in view.calls:
        status = getattr(lib, call.function)(*(objects.argument(a, arena) for a in call.args))
        assert status == lib.MCUQ_OK, f"{call.function} returned {status}"
    written = np.zeros(arr.size, dtype=bool)
    rows = [arr.placement.output + r * arr.row_stride for r in range(arr.rows)]
    for r in rows:
        written[r : r + arr.row_bytes] = True
    if arr.placement.scratch:
        offset, size = arr.placement.scratch
        written[offset : offset + size] = True
    changed = np.flatnonzero((memory != before) & ~written)
    assert changed.size == 0, f"wrote outside its output at arena byte {changed[0]}"
    out = tensors[layer.output]
    data = np.concatenate([memory[r : r + arr.row_bytes] for r in rows]) if rows else memory[:0]
    return data.view(DTYPE_NUMPY[out.dtype]).reshape(out.shape).copy()


# --------------------------------------------------------------------------------------------------
# checks against the golden model
# --------------------------------------------------------------------------------------------------


def assert_same(want: np.ndarray, got: np.ndarray, what: str) -> None:
    assert want.dtype == got.dtype and want.shape == got.shape
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, (
        f"{what}: {bad.size} of {want.size} differ, first at {bad[0]}: golden {want.flat[bad[0]]} "
        f"C {got.flat[bad[0]]}"
    )


def check(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """The C kernel equals the golden model, with separate buffers and, where the planner may run the
    layer in place, with the output written over its input at the largest shift it allows."""
    want = golden.run_layer(layer, inputs, tensors)
    assert_same(want, run_c(layer, inputs, tensors), "separate buffers")
    roomy = kernels.roomy_scratch_bytes(layer, tensors) > kernels.scratch_bytes(layer, tensors)
    if roomy:
        assert_same(want, run_c(layer, inputs, tensors, roomy=True), "roomy scratch")
    shift = inplace.max_shift(layer, tensors)
    if shift is not None:
        for k in range(len(inputs) if kernels.kernel_spec(layer.op).inplace is InPlace.ELEMENTWISE else 1):
            if inplace.broadcast_input(layer, tensors, k):
                continue
            assert_same(want, run_c(layer, inputs, tensors, (k, shift)), f"in place over input {k}, shift {shift}")
            if roomy:
                assert_same(want, run_c(layer, inputs, tensors, (k, shift), roomy=True),
                             f"in place over input {k}, shift {shift}, roomy scratch")
    if kernels.kernel_spec(layer.op).slice_write is SliceWrite.CHANNELS:
        for first, stride in _channel_slices(want.shape[-1], want.size):
            got = run_c(layer, inputs, tensors, channel_slice=(first, stride))
            assert_same(want, got, f"as channels {first}.. of pixels {stride} wide")
    return want


def _channel_slices(channels: int, size: int) -> list[tuple[int, int]]:
    """(first channel, pixel stride) of the Concat slices a producer is tested writing: stride ==
    channels (a dense output, today's behaviour) and a wider pixel with the slice at some offset."""
    extra = 1 + size % 5
    return [(0, channels), (size % (extra + 1), channels + extra)]


def check16(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """The int16 (or requantize) C kernel equals the golden model, with separate buffers."""
    want = golden.run_layer(layer, inputs, tensors)
    assert_same(want, run_c(layer, inputs, tensors), "int16 kernel")
    return want
