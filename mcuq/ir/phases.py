"""Stride-phase decomposition of a transposed convolution (ConvTranspose), one spatial axis at a time.

ConvTranspose with stride s writes input i, tap k to output o = i*s + k - pad_begin. The outputs with
(o + pad_begin) mod s = r (phase r) receive only the taps k = r, r+s, r+2s, ...: each phase is an
ordinary stride-1 correlation of the input with a sub-kernel of those taps (reversed), with no zeros
inserted, so the s*s phases together do exactly the transposed convolution's multiply-adds. The lowering
rearranges the weights by phase; the C kernel runs the convolution kernel once per phase and output row.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AxisPhase:
    """Phase r of one axis: outputs first_out, first_out + s, ... (count of them), computed by a stride-1
    correlation with ``taps`` taps whose first output's window starts at input index ``first_in``
    (negative: that many rows of padding) and whose last output's window ends ``pad_end`` past the
    input's last index (negative: input left unread)."""

    phase: int
    taps: int
    first_out: int
    count: int
    first_in: int
    pad_end: int

    def tap_indices(self, stride: int) -> tuple[int, ...]:
        """Original kernel index of each sub-kernel tap, in correlation order (the taps reversed)."""
        return tuple(self.phase + stride * (self.taps - 1 - j) for j in range(self.taps))


def axis_phases(in_len: int, out_len: int, kernel: int, stride: int, pad_begin: int) -> tuple[AxisPhase, ...]:
    """The ``stride`` phases of one axis, by r (phase of o + pad_begin)."""
    phases = []
    for r in range(stride):
        taps = (kernel - r + stride - 1) // stride
        q_first = -((r - pad_begin) // stride)  # ceil((pad_begin - r) / stride)
        q_last = (out_len - 1 + pad_begin - r) // stride
        count = max(0, q_last - q_first + 1)
        phases.append(AxisPhase(r, max(taps, 0), q_first * stride + r - pad_begin, count,
                                q_first - taps + 1, q_last - (in_len - 1)))
    return tuple(phases)


def unsupported_geometry(in_hw: tuple[int, int], out_hw: tuple[int, int], kernel: tuple[int, int],
                         strides: tuple[int, int], pads_begin: tuple[int, int]) -> str | None:
    """Why the phase decomposition cannot run this geometry on the convolution kernel, or None.
    Rows are clipped one output row at a time, so any H works; along W the window must cover the
    input's columns (no column left unread at either end), and every phase needs a tap."""
    for axis, name in ((0, "H"), (1, "W")):
        for p in axis_phases(in_hw[axis], out_hw[axis], kernel[axis], strides[axis], pads_begin[axis]):
            if p.count and p.taps < 1:
                return f"a kernel ({kernel[axis]}) smaller than the stride ({strides[axis]}) along {name}"
            if axis == 1 and p.count and (p.first_in > 0 or p.pad_end < 0):
                return ("pads that crop input columns away (pads larger than kernel - 1, or an output narrower "
                        "than the input covers)")
    return None
