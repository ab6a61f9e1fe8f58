"""In-place execution: where a layer's output may start, relative to its input, so that the C kernel,
writing its output front to back, never overwrites an input byte it has still to read.

The answer is a byte shift `d` (output start = input start + d). Every kernel here writes its output
in order, so the constraints all have the form `d <= bound`: the largest safe shift, `max_shift`, is
the minimum of those bounds and every smaller shift is safe too. A 3x3 stride-1 convolution with
"same" padding gets d = -(W + 1) * C: the output runs one row and one pixel ahead of the input, so the
kernel needs that much room before its input instead of a second tensor. The numbers mirror the loop
order of each kernel in runtime_c/src (raster order over [N, OH, OW], then channels); the kernel
tests run every kernel on overlapping buffers at `max_shift` to hold the two together.

The golden model is untouched: in-place execution changes where bytes live, never their values.
"""

from __future__ import annotations

import numpy as np

from mcuq.qir.kernels import InPlace, kernel_spec
from mcuq.qir.model import Layer, QOp, QTensor

_NO_READ = np.iinfo(np.int64).max  # a window that lies entirely in the padding reads nothing


def _first_taps(out_size: int, in_size: int, kernel: int, stride: int, dilation: int, pad: int) -> np.ndarray:
    """Per output position along one axis: the first input position its window reads (in bounds),
    or -1 when every tap falls into the padding."""
    base = np.arange(out_size, dtype=np.int64) * stride - pad
    k0 = np.where(base < 0, -(base // dilation), 0)  # ceil(-base / dilation) for base < 0
    first = base + k0 * dilation
    return np.where((k0 < kernel) & (first < in_size), first, -1)


def window_first_bytes(in_shape, out_shape, kernel, stride, dilation, padding) -> np.ndarray:
    """Byte offset (in the NHWC input) of the first element each output pixel's window reads, for the
    output pixels in raster order [N, OH, OW]; `_NO_READ` for windows entirely in the padding."""
    n, h, w, c = in_shape
    _, oh, ow, _ = out_shape
    rows = _first_taps(oh, h, kernel[0], stride[0], dilation[0], padding[0])
    cols = _first_taps(ow, w, kernel[1], stride[1], dilation[1], padding[1])
    batch = np.arange(n, dtype=np.int64)[:, None, None] * h
    pixel = (batch + rows[None, :, None]) * w + cols[None, None, :]
    valid = (rows[None, :, None] >= 0) & (cols[None, None, :] >= 0) & np.ones((n, 1, 1), dtype=bool)
    return np.where(valid, pixel * c, _NO_READ).reshape(-1)


def _suffix_min(values: np.ndarray) -> np.ndarray:
    return np.minimum.accumulate(values[::-1])[::-1]


def _bound_reads_first(first: np.ndarray, out_pixel: int) -> int:
    """Kernels that read a pixel's whole window (into scratch) before writing any of its output
    (convolve_s8 with one group): after output pixel p only the windows of later pixels are pending,
    so d + (p + 1) * out_pixel <= first byte of any later window."""
    later = np.append(_suffix_min(first)[1:], _NO_READ)
    ends = (np.arange(first.size, dtype=np.int64) + 1) * out_pixel
    return int(np.min(later - ends))


def _bound_interleaved(first: np.ndarray, out_pixel: int) -> int:
    """Kernels that read and write a pixel in turns (grouped conv, depthwise with a channel
    multiplier): conservatively, pixel p's window stays pending until all of its output is written."""
    ends = (np.arange(first.size, dtype=np.int64) + 1) * out_pixel
    return int(np.min(_suffix_min(first) - ends))


def _bound_channelwise(first: np.ndarray, channels: int) -> int:
    """Kernels whose output channel c of pixel p reads only input channel c of p's window and is
    written after it (depthwise with multiplier 1, pooling), with as many output as input channels:
    writing byte p*C + c + d must stay below the pending byte first(p) + c + 1, so d <= first(p) - p*C.
    The pending windows of later pixels p' add nothing: first(p') - p'*C <= first(p') - (p + 1)*C."""
    starts = np.arange(first.size, dtype=np.int64) * channels
    return int(np.min(first - starts))


def _window_bound(layer: Layer, tensors: dict[str, QTensor]) -> int | None:
    p = layer.params
    in_shape = tensors[layer.inputs[0]].shape
    out_shape = tensors[layer.output].shape
    if layer.op is QOp.CONV:
        _, kh, kw, _ = np.shape(p.weights)
        first = window_first_bytes(in_shape, out_shape, (kh, kw), p.stride, p.dilation, p.padding)
        bound = _bound_reads_first if p.groups == 1 else _bound_interleaved
        return bound(first, out_shape[3])
    if layer.op is QOp.DEPTHWISE_CONV:
        _, kh, kw, _ = np.shape(p.weights)
        first = window_first_bytes(in_shape, out_shape, (kh, kw), p.stride, p.dilation, p.padding)
        if p.ch_mult == 1:
            return _bound_channelwise(first, out_shape[3])
        return _bound_interleaved(first, out_shape[3])
    # MAX_POOL, AVG_POOL
    first = window_first_bytes(in_shape, out_shape, p.kernel, p.stride, (1, 1), p.padding)
    return _bound_channelwise(first, out_shape[3])




def max_shift(layer: Layer, tensors: dict[str, QTensor]) -> int | None:
    """The largest shift d (output start minus the start of the layer's first input) at which the
    kernel computes the right output while writing over that input; None if the kernel cannot run
    in place. For ADD and MUL the input is the first one; the other input must not overlap."""
    if any(tensors[name].dtype != "int8" for name in (*layer.inputs, layer.output)):
        return None  # the byte arithmetic here counts one byte per element: int16 layers run out of place
    # Elementwise: element i is written after element i of every input was read, and never read again
    # (softmax reads a whole row before writing it, then each element once more just before writing it).
    kind = kernel_spec(layer.op).inplace
    if kind is InPlace.ELEMENTWISE:
        return 0
    if kind is InPlace.WINDOWED:
        # Beyond the input's end the output overlaps nothing: no need to look further.
        return min(_window_bound(layer, tensors), tensors[layer.inputs[0]].size)
    return None  # fully connected, concat, transpose, pad: output written while the input is still read


def broadcast_input(layer: Layer, tensors: dict[str, QTensor], input_index: int) -> bool:
    """Whether input `input_index` of an elementwise kernel is smaller than the output: an operand a
    broadcasting kernel reads again for later pixels, never a place to write the output."""
    return (kernel_spec(layer.op).inplace is InPlace.ELEMENTWISE
            and tensors[layer.inputs[input_index]].size < tensors[layer.output].size)


def inplace_shift(layer: Layer, tensors: dict[str, QTensor], input_index: int, alignment: int) -> int | None:
    """The shift the planner uses for writing the output over input `input_index`: the largest safe
    one, at most 0 (a positive shift only helps when the output is larger, and then it costs), rounded
    down to the alignment. None when in-place saves nothing (input and output would not overlap)."""
    bound = max_shift(layer, tensors) if input_index < len(layer.inputs) else None
    if bound is None or broadcast_input(layer, tensors, input_index):
        return None
    shift = min(bound, 0) // alignment * alignment
    if shift <= -tensors[layer.output].size:
        return None
    return shift
