"""The int16 (16x8) C kernels and the int8 <-> int16 requantize kernels equal the golden model
(mcuq.golden.s16 through golden.run_layer) bit for bit on random layers, and the 64-bit requantization
helper equals its numpy twin on edge values. The C is called through run_c16 of
tests/helpers/kernel_harness.py; the random windows and pools are the int8 tests' (kernel_layers)."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check16
from tests.helpers.kernel_layers import cfg, make_layer, out_size, pool_layers, seeds, windows

I16 = (-32768, 32767)


@st.composite
def act_ranges16(draw):
    if draw(st.booleans()):
        return I16
    lo, hi = sorted((draw(st.integers(*I16)), draw(st.integers(*I16))))
    return lo, hi


def make_layer16(op, params, in_shapes, out_shape, in_dtype="int16", out_dtype="int16"):
    return make_layer(op, params, in_shapes, out_shape, in_dtype, out_dtype)


def _random(rng, shape, dtype="int16"):
    lo, hi = qir.DTYPE_RANGE[dtype]
    return rng.integers(lo, hi + 1, size=shape).astype(qir.DTYPE_NUMPY[dtype])


def _requant16(rng, channels: int, acc_terms: int):
    """Per-channel (multiplier, shift) mapping a typical 16x8 accumulator onto a few thousand LSB, with the
    odd channel scaled up (shifts up to 7, the kernels' limit) or far down."""
    typical = 4000.0 / (math.sqrt(acc_terms) * 32767.0 * 70.0)
    reals = typical * 2.0 ** rng.uniform(-6, 6, size=channels)
    big = rng.random(channels) < 0.1
    reals[big] = 2.0 ** rng.uniform(0, 6.9, size=int(big.sum()))
    return fp.quantize_multipliers(reals)


def _bias(rng, n):
    return rng.integers(-(2**40), 2**40, size=n).astype(np.int64)


@cfg(200)
@given(windows, st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 2), act_ranges16(), seeds)
def test_conv_s16(window, groups, cg, og, batch, act, seed):
    h, w, kh, kw, sh, sw, dh, dw, pad = window
    oh, ow = out_size(h, pad[0], pad[2], kh, sh, dh), out_size(w, pad[1], pad[3], kw, sw, dw)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    c_out = groups * og
    mult, shift = _requant16(rng, c_out, kh * kw * cg)
    params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, kh, kw, cg)).astype(np.int8),
                            bias=_bias(rng, c_out), multiplier=mult, shift=shift, input_offset=0, output_offset=0,
                            stride=(sh, sw), dilation=(dh, dw), padding=pad, act_min=act[0], act_max=act[1],
                            groups=groups)
    layer, tensors = make_layer16(QOp.CONV, params, [(batch, h, w, groups * cg)], (batch, oh, ow, c_out))
    check16(layer, [_random(rng, (batch, h, w, groups * cg))], tensors)


@cfg(200)
@given(windows, st.integers(1, 5), st.integers(1, 3), act_ranges16(), seeds)
def test_depthwise_conv_s16(window, c_in, ch_mult, act, seed):
    h, w, kh, kw, sh, sw, dh, dw, pad = window
    oh, ow = out_size(h, pad[0], pad[2], kh, sh, dh), out_size(w, pad[1], pad[3], kw, sw, dw)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    c_out = c_in * ch_mult
    mult, shift = _requant16(rng, c_out, kh * kw)
    params = qir.DepthwiseConvParams(weights=rng.integers(-127, 128, size=(1, kh, kw, c_out)).astype(np.int8),
                                     bias=_bias(rng, c_out), multiplier=mult, shift=shift, input_offset=0,
                                     output_offset=0, stride=(sh, sw), dilation=(dh, dw), padding=pad,
                                     act_min=act[0], act_max=act[1], ch_mult=ch_mult)
    layer, tensors = make_layer16(QOp.DEPTHWISE_CONV, params, [(1, h, w, c_in)], (1, oh, ow, c_out))
    check16(layer, [_random(rng, (1, h, w, c_in))], tensors)


@cfg(100)
@given(st.integers(1, 3), st.integers(1, 600), st.integers(1, 16), act_ranges16(), seeds)
def test_fully_connected_s16(batch, k, o, act, seed):
    rng = np.random.default_rng(seed)
    mult, shift = _requant16(rng, o, k)
    params = qir.FullyConnectedParams(weights=rng.integers(-127, 128, size=(o, k)).astype(np.int8),
                                      bias=_bias(rng, o), multiplier=mult, shift=shift, input_offset=0,
                                      output_offset=0, act_min=act[0], act_max=act[1])
    layer, tensors = make_layer16(QOp.FULLY_CONNECTED, params, [(batch, k)], (batch, o))
    check16(layer, [_random(rng, (batch, k))], tensors)


scales = st.floats(1e-5, 1.0)


@cfg(100)
@given(st.integers(1, 200), scales, scales, scales, act_ranges16(), seeds)
def test_add_s16(size, s1, s2, so, act, seed):
    assume(2 * max(s1, s2) / (2**15 * so) < 1.0)  # Prepare's condition on the output multiplier
    rng = np.random.default_rng(seed)
    params = fp.prepare_add(s1, 0, s2, 0, so, 0, *act, left_shift=fp.ADD_LEFT_SHIFT_S16)
    layer, tensors = make_layer16(QOp.ADD, params, [(1, size), (1, size)], (1, size))
    a, b = _random(rng, (1, size)), _random(rng, (1, size))
    got = check16(layer, [a, b], tensors).astype(np.int64)
    exact = (s1 * a.astype(np.int64) + s2 * b.astype(np.int64)) / so
    assert np.all(np.abs(got - np.clip(np.round(exact), *act)) <= 1)  # TFLite's Add: within one LSB


def _pool16(op, pool):
    """A pool layer from the int8 pooling tests' window strategy, with int16 tensors, an int16 clamp (the int8 one
    widened) and padding value 0."""
    p, in_shape, out_shape = pool
    lo, hi = p.act_min * 256, p.act_max * 256 + 255
    params = qir.PoolParams(kernel=p.kernel, stride=p.stride, padding=p.padding, act_min=lo, act_max=hi,
                            count_include_pad=p.count_include_pad, pad_value=0)
    return make_layer16(op, params, [in_shape], out_shape)


@cfg(100)
@given(pool_layers(), seeds)
def test_max_pool_s16(pool, seed):
    layer, tensors = _pool16(QOp.MAX_POOL, pool)
    check16(layer, [_random(np.random.default_rng(seed), tensors["in0"].shape)], tensors)


@cfg(100)
@given(pool_layers(), seeds)
def test_avg_pool_s16(pool, seed):
    layer, tensors = _pool16(QOp.AVG_POOL, pool)
    check16(layer, [_random(np.random.default_rng(seed), tensors["in0"].shape)], tensors)


@cfg(150)
@given(st.integers(1, 300), st.floats(1e-3, 10.0), st.integers(-128, 127), st.floats(0.3, 1.2), seeds)
def test_requantize_int8_to_int16_and_back(size, scale8, zp8, headroom, seed):
    """Round trip through the two boundary kernels, with the scales the lowering picks (int16 scale from the
    same range, times a headroom factor): C equals golden both ways, and the int8 value comes back."""
    rng = np.random.default_rng(seed)
    scale16 = float(np.float32(scale8 * 255 / 32767 * headroom))
    up_m, up_s = fp.quantize_multiplier(scale8 / scale16)
    down_m, down_s = fp.quantize_multiplier(scale16 / scale8)
    up = qir.Layer(QOp.REQUANTIZE, "up", ("in0",), "out", qir.RequantizeParams(-zp8, 0, up_m, up_s))
    down = qir.Layer(QOp.REQUANTIZE, "down", ("in0",), "out", qir.RequantizeParams(0, zp8, down_m, down_s))
    x = _random(rng, (1, size), "int8")
    _, t_up = make_layer16(QOp.REQUANTIZE, None, [(1, size)], (1, size), in_dtype="int8", out_dtype="int16")
    _, t_down = make_layer16(QOp.REQUANTIZE, None, [(1, size)], (1, size), in_dtype="int16", out_dtype="int8")
    wide = check16(up, [x], t_up)
    back = check16(down, [wide], t_down)
    unsaturated = np.abs((x.astype(np.int64) - zp8) * scale8) < 32767 * scale16 * 0.999
    np.testing.assert_array_equal(back[unsaturated], x[unsaturated])


def test_requantize_s64_matches_the_c_helper_on_edges():
    """mcuq_requantize_s64 through the convolution kernel on a 1x1 layer: accumulators near +-2^47,
    multipliers near the REDUCE_MULTIPLIER saturation point, every allowed shift."""
    rng = np.random.default_rng(7)
    mults = np.array([0, 1, 32767, 32768, 0x7FFEFFFF, 0x7FFF0000, 0x7FFFFFFF, 1 << 30] * 5, dtype=np.int64)
    c_out = mults.size
    shifts = rng.integers(-31, 8, size=c_out)
    bias = rng.integers(-(2**47) + 2**30, 2**47 - 2**30, size=c_out)
    params = qir.ConvParams(weights=np.ones((c_out, 1, 1, 1), dtype=np.int8), bias=bias.astype(np.int64),
                            multiplier=mults.astype(np.int32), shift=shifts.astype(np.int32), input_offset=0,
                            output_offset=0, stride=(1, 1), dilation=(1, 1), padding=(0, 0, 0, 0), act_min=I16[0],
                            act_max=I16[1])
    layer, tensors = make_layer16(QOp.CONV, params, [(1, 1, 1, 1)], (1, 1, 1, c_out))
    for value in (-32768, -1, 0, 1, 32767):
        check16(layer, [np.array([[[[value]]]], dtype=np.int16)], tensors)
