"""Random layers for the kernel tests: hypothesis strategies for their structure (shapes, windows,
zero points, clamps), and seeded numpy data and per-channel multipliers (from ``quantize_multiplier`` of
random real scales) to fill them. Shared by the int8 family files and the int16 file in
tests/runtime_c/."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp


def cfg(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])


zero_points = st.integers(-128, 127)
seeds = st.integers(0, 2**32 - 1)


# Elementwise tensors as [pixels, channels]: a channel slice writes one row per pixel.
pixel_rows = st.tuples(st.integers(1, 24), st.integers(1, 12))


@st.composite
def act_ranges(draw):
    lo = draw(st.integers(-128, 127))
    hi = draw(st.integers(-128, 127))
    if draw(st.booleans()):  # half of the layers: no clamp
        return -128, 127
    return min(lo, hi), max(lo, hi)


def make_tensor(name, shape, zp=0, dtype="int8"):
    return qir.QTensor(name, tuple(int(d) for d in shape), 1.0, int(zp), dtype)


def make_layer(op, params, in_shapes, out_shape, in_dtype="int8", out_dtype="int8"):
    """A layer with inputs "in0", "in1", ... and output "out" (scale 1, zero point 0), and its tensors."""
    names = tuple(f"in{i}" for i in range(len(in_shapes)))
    tensors = {n: make_tensor(n, s, dtype=in_dtype) for n, s in zip(names, in_shapes)}
    tensors["out"] = make_tensor("out", out_shape, dtype=out_dtype)
    return qir.Layer(op, op.value, names, "out", params), tensors


def random_i8(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


def channel_requant(rng, channels: int, acc_terms: int):
    """Per-channel (multiplier, shift) from real scales that map a typical accumulator of
    ``acc_terms`` products onto a few dozen LSB, with the odd scale above 1 (left shifts)."""
    typical = 64.0 / (math.sqrt(acc_terms) * 4000.0)
    reals = typical * 2.0 ** rng.uniform(-4, 4, size=channels)
    big = rng.random(channels) < 0.1
    reals[big] = 2.0 ** rng.uniform(0, 3, size=int(big.sum()))
    return fp.quantize_multipliers(reals)


def out_size(size, pad_a, pad_b, k, s, d):
    return (size + pad_a + pad_b - d * (k - 1) - 1) // s + 1


# H, W, KH, KW, stride h, w, dilation h, w, padding (top, left, bottom, right)
windows = st.tuples(
    *[st.integers(1, 8)] * 2,
    *[st.integers(1, 4)] * 2,
    *[st.integers(1, 3)] * 2,
    *[st.integers(1, 3)] * 2,
    st.tuples(*[st.integers(0, 3)] * 4),
)


@st.composite
def pool_layers(draw):
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    # Padding smaller than the kernel, so that no window lies entirely in the padding.
    pad = (
        draw(st.integers(0, kh - 1)),
        draw(st.integers(0, kw - 1)),
        draw(st.integers(0, kh - 1)),
        draw(st.integers(0, kw - 1)),
    )
    stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    oh, ow = out_size(h, pad[0], pad[2], kh, stride[0], 1), out_size(w, pad[1], pad[3], kw, stride[1], 1)
    if oh < 1 or ow < 1:
        h, w = h + kh, w + kw
        oh, ow = out_size(h, pad[0], pad[2], kh, stride[0], 1), out_size(w, pad[1], pad[3], kw, stride[1], 1)
    act = draw(act_ranges())
    params = qir.PoolParams(
        kernel=(kh, kw),
        stride=stride,
        padding=pad,
        act_min=act[0],
        act_max=act[1],
        count_include_pad=draw(st.booleans()),
        pad_value=draw(zero_points),
    )
    c = draw(st.integers(1, 5))
    return params, (1, h, w, c), (1, oh, ow, c)
