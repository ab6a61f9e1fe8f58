"""Concatenation without copies: the producer of a Concat input writes straight into its slice of the
Concat's output, so that input needs no buffer of its own and the Concat copies nothing for it.

Two kinds of slice, in NHWC:
- contiguous: the concat axis is the outermost one that is not 1 (concat along H, or along anything
  of a tensor whose leading dims are 1): the input's bytes are one block of the output, at a byte
  offset. Any kernel can write it; it simply gets a different output pointer.
- channel: concat along the last axis (Inception, SqueezeNet's fire modules, U-Net skips): each
  output pixel holds every input's channels side by side, so the producer writes its C_i channels
  per pixel with the pixel stride of the output's C, starting at its channel offset. Only kernels
  with an explicit output stride can do that (`SliceWrite.CHANNELS` in `qir.kernels`).

An input is written in place when it is produced by a layer (not a model input), is no model output,
is read by this Concat alone and only once, and already has the Concat output's scale and zero point
(else the Concat requantizes it and keeps its copy; the quantizer gives Concat inputs the output's
quantization where it is free to, as TFLite requires, see `quant.shared_concat_quantization`).
Reshapes (their output usually is their input's bytes already) and nested Concats keep the copy.

A layer that writes a slice never runs in place over its own input (`arena.inplace_layers`): its
output is part of a tensor that is alive from the first slice's producer to the Concat's last reader.
A slice may start at any byte (a channel offset): only its producer sees that pointer, and every
kernel stores its int8 output byte by byte; the Concat's output itself stays aligned.
Placement is a memory matter: the golden model still runs the Concat; the C leaves out its copies.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from mcuq.qir.kernels import SliceWrite, kernel_spec
from mcuq.qir.model import QModel, QOp

# What a producer's kernel can write for each kind of slice (its row's `SliceWrite`).
ABLE_TO_WRITE = {"contiguous": (SliceWrite.CONTIGUOUS, SliceWrite.CHANNELS), "channel": (SliceWrite.CHANNELS,)}


@dataclass(frozen=True)
class Slice:
    """Where a producer writes its output inside a Concat's output."""

    concat: str  # the Concat's output tensor
    offset: int  # bytes from the start of the Concat's output to the slice's first element
    pixel_stride: int  # bytes between the starts of consecutive pixels (last-axis rows) as written
    channels: int  # the producer's last dim: bytes per pixel it writes

    @property
    def strided(self) -> bool:
        return self.pixel_stride != self.channels


def _slice_kind(shape: tuple[int, ...], axis: int) -> str | None:
    if all(d == 1 for d in shape[:axis]):
        return "contiguous"
    if axis == len(shape) - 1:
        return "channel"
    return None  # e.g. along W with several rows: neither one block nor one channel range


def slice_writes(model: QModel) -> dict[str, Slice]:
    """Concat inputs whose producers write straight into the Concat's output: input -> its slice."""
    readers = Counter(name for layer in model.layers for name in layer.inputs)
    producer = {layer.output: layer for layer in model.layers}
    slices: dict[str, Slice] = {}
    for layer in model.layers:
        if layer.op is not QOp.CONCAT:
            continue
        out = model.tensors[layer.output]
        axis = layer.params.axis % len(out.shape)
        kind = _slice_kind(out.shape, axis)
        allowed = ABLE_TO_WRITE.get(kind, ())
        inner = 1
        for d in out.shape[axis + 1:]:
            inner *= d
        start = 0
        for i, name in enumerate(layer.inputs):
            t = model.tensors[name]
            same_quant = layer.params.multipliers[i] == 0 and (t.scale, t.zero_point) == (out.scale, out.zero_point)
            if (kind is not None and same_quant and readers[name] == 1 and name in producer
                    and name not in model.outputs and kernel_spec(producer[name].op).slice_write in allowed):
                stride = out.shape[-1] if kind == "channel" else t.shape[-1]
                slices[name] = Slice(layer.output, start * inner, stride, t.shape[-1])
            start += t.shape[axis]
    return slices
