"""The int16 (16x8) C kernels and the int8 <-> int16 requantize kernels equal the golden model
(mcuq.golden.s16 through golden.run_layer) bit for bit on random layers, and the 64-bit requantization
helper equals its numpy twin on edge values."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from mcuq import golden, qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.c_kernels import load
from tests.runtime_c.test_kernels import _out, cfg, pool_layers, seeds, windows

I16 = (-32768, 32767)


@st.composite
def act_ranges16(draw):
    if draw(st.booleans()):
        return I16
    lo, hi = sorted((draw(st.integers(*I16)), draw(st.integers(*I16))))
    return lo, hi


def _layer(op, params, in_shapes, out_shape, in_dtype="int16", out_dtype="int16"):
    names = tuple(f"in{i}" for i in range(len(in_shapes)))
    tensors = {n: qir.QTensor(n, tuple(s), 1.0, 0, in_dtype) for n, s in zip(names, in_shapes)}
    tensors["out"] = qir.QTensor("out", tuple(out_shape), 1.0, 0, out_dtype)
    return qir.Layer(op, op.value, names, "out", params), tensors


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


def _ptr(ffi, ctype, a):
    return ffi.cast(ctype + " *", ffi.from_buffer(a))


def _dims(ffi, shape):
    n, h, w, c = shape
    return ffi.new("mcuq_dims *", {"n": n, "h": h, "w": w, "c": c})


def _window_params(p):
    return {
        "input_offset": p.input_offset,
        "output_offset": p.output_offset,
        "stride": {"h": p.stride[0], "w": p.stride[1]},
        "dilation": {"h": p.dilation[0], "w": p.dilation[1]},
        "padding": dict(zip(("top", "left", "bottom", "right"), p.padding)),
        "activation": {"min": p.act_min, "max": p.act_max},
    }


def run_c16(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """One layer through its int16 (or requantize) C kernel; asserts MCUQ_OK."""
    ffi, lib = load()
    out_t = tensors[layer.output]
    out = np.zeros(out_t.shape, dtype=qir.DTYPE_NUMPY[out_t.dtype])
    ins = [np.ascontiguousarray(x) for x in inputs]
    p = layer.params
    keep = []

    def per_channel():
        mult = np.ascontiguousarray(p.multiplier, dtype=np.int32)
        shift = np.ascontiguousarray(p.shift, dtype=np.int32)
        keep.extend([mult, shift])
        return ffi.new("mcuq_per_channel_quant *", {"multiplier": _ptr(ffi, "int32_t", mult),
                                                    "shift": _ptr(ffi, "int32_t", shift)})

    def weighted_args():
        w = np.ascontiguousarray(p.weights, dtype=np.int8)
        bias = np.ascontiguousarray(p.bias, dtype=np.int64)
        keep.extend([w, bias])
        return _ptr(ffi, "int8_t", w), _ptr(ffi, "int64_t", bias), w.shape

    x = _ptr(ffi, "int16_t", ins[0]) if ins[0].dtype == np.int16 else _ptr(ffi, "int8_t", ins[0])
    y = _ptr(ffi, "int16_t", out) if out.dtype == np.int16 else _ptr(ffi, "int8_t", out)
    in_shape = tensors[layer.inputs[0]].shape
    if layer.op is QOp.CONV:
        w, bias, w_shape = weighted_args()
        params = ffi.new("mcuq_conv_params *", dict(_window_params(p), groups=p.groups))
        status = lib.mcuq_convolve_s16(params, per_channel(), _dims(ffi, in_shape), x, _dims(ffi, w_shape), w, bias,
                                       _dims(ffi, out_t.shape), y)
    elif layer.op is QOp.DEPTHWISE_CONV:
        w, bias, w_shape = weighted_args()
        params = ffi.new("mcuq_dw_conv_params *", dict(_window_params(p), ch_mult=p.ch_mult))
        status = lib.mcuq_depthwise_conv_s16(params, per_channel(), _dims(ffi, in_shape), x, _dims(ffi, w_shape), w,
                                             bias, _dims(ffi, out_t.shape), y)
    elif layer.op is QOp.FULLY_CONNECTED:
        w, bias, (o, k) = weighted_args()
        batch = ins[0].size // k
        params = ffi.new("mcuq_fc_params *", {"input_offset": 0, "output_offset": 0,
                                              "activation": {"min": p.act_min, "max": p.act_max}})
        dims = ffi.new("mcuq_fc_dims *", {"batches": batch, "input_depth": k, "output_depth": o})
        status = lib.mcuq_fully_connected_s16(params, per_channel(), dims, x, w, bias, y)
    elif layer.op is QOp.ADD:
        params = ffi.new("mcuq_add_params *", {
            "input1_offset": p.input1_offset,
            "input1_quant": {"multiplier": p.input1_multiplier, "shift": p.input1_shift},
            "input2_offset": p.input2_offset,
            "input2_quant": {"multiplier": p.input2_multiplier, "shift": p.input2_shift},
            "left_shift": p.left_shift, "output_offset": p.output_offset,
            "output_quant": {"multiplier": p.output_multiplier, "shift": p.output_shift},
            "activation": {"min": p.act_min, "max": p.act_max}})
        status = lib.mcuq_elementwise_add_s16(params, x, _ptr(ffi, "int16_t", ins[1]), y, out.size)
    elif layer.op in (QOp.MAX_POOL, QOp.AVG_POOL):
        params = ffi.new("mcuq_pool_params *", {
            "kernel": {"h": p.kernel[0], "w": p.kernel[1]}, "stride": {"h": p.stride[0], "w": p.stride[1]},
            "padding": dict(zip(("top", "left", "bottom", "right"), p.padding)),
            "activation": {"min": p.act_min, "max": p.act_max},
            "count_include_pad": int(p.count_include_pad), "pad_value": p.pad_value,
            "output_pixel_stride": out_t.shape[-1]})
        kernel = lib.mcuq_max_pool_s16 if layer.op is QOp.MAX_POOL else lib.mcuq_avg_pool_s16
        status = kernel(params, _dims(ffi, in_shape), x, _dims(ffi, out_t.shape), y)
    elif layer.op is QOp.REQUANTIZE:
        params = ffi.new("mcuq_requantize_params *", {
            "input_offset": p.input_offset, "output_offset": p.output_offset,
            "quant": {"multiplier": p.multiplier, "shift": p.shift}})
        kernel = lib.mcuq_requantize_s8_s16 if out_t.dtype == "int16" else lib.mcuq_requantize_s16_s8
        status = kernel(params, x, y, out.size)
    else:
        raise AssertionError(f"no int16 C kernel for {layer.op}")
    assert status == lib.MCUQ_OK
    return out


def check(layer, inputs, tensors) -> np.ndarray:
    want = golden.run_layer(layer, inputs, tensors)
    got = run_c16(layer, inputs, tensors)
    assert want.dtype == got.dtype and want.shape == got.shape
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, f"{bad.size} of {want.size} differ, first at {bad[0]}: golden {want.flat[bad[0]]} C {got.flat[bad[0]]}"
    return want


@cfg(200)
@given(windows, st.integers(1, 3), st.integers(1, 4), st.integers(1, 4), st.integers(1, 2), act_ranges16(), seeds)
def test_conv_s16(window, groups, cg, og, batch, act, seed):
    h, w, kh, kw, sh, sw, dh, dw, pad = window
    oh, ow = _out(h, pad[0], pad[2], kh, sh, dh), _out(w, pad[1], pad[3], kw, sw, dw)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    c_out = groups * og
    mult, shift = _requant16(rng, c_out, kh * kw * cg)
    params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, kh, kw, cg)).astype(np.int8),
                            bias=_bias(rng, c_out), multiplier=mult, shift=shift, input_offset=0, output_offset=0,
                            stride=(sh, sw), dilation=(dh, dw), padding=pad, act_min=act[0], act_max=act[1],
                            groups=groups)
    layer, tensors = _layer(QOp.CONV, params, [(batch, h, w, groups * cg)], (batch, oh, ow, c_out))
    check(layer, [_random(rng, (batch, h, w, groups * cg))], tensors)


@cfg(200)
@given(windows, st.integers(1, 5), st.integers(1, 3), act_ranges16(), seeds)
def test_depthwise_conv_s16(window, c_in, ch_mult, act, seed):
    h, w, kh, kw, sh, sw, dh, dw, pad = window
    oh, ow = _out(h, pad[0], pad[2], kh, sh, dh), _out(w, pad[1], pad[3], kw, sw, dw)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    c_out = c_in * ch_mult
    mult, shift = _requant16(rng, c_out, kh * kw)
    params = qir.DepthwiseConvParams(weights=rng.integers(-127, 128, size=(1, kh, kw, c_out)).astype(np.int8),
                                     bias=_bias(rng, c_out), multiplier=mult, shift=shift, input_offset=0,
                                     output_offset=0, stride=(sh, sw), dilation=(dh, dw), padding=pad,
                                     act_min=act[0], act_max=act[1], ch_mult=ch_mult)
    layer, tensors = _layer(QOp.DEPTHWISE_CONV, params, [(1, h, w, c_in)], (1, oh, ow, c_out))
    check(layer, [_random(rng, (1, h, w, c_in))], tensors)


@cfg(100)
@given(st.integers(1, 3), st.integers(1, 600), st.integers(1, 16), act_ranges16(), seeds)
def test_fully_connected_s16(batch, k, o, act, seed):
    rng = np.random.default_rng(seed)
    mult, shift = _requant16(rng, o, k)
    params = qir.FullyConnectedParams(weights=rng.integers(-127, 128, size=(o, k)).astype(np.int8),
                                      bias=_bias(rng, o), multiplier=mult, shift=shift, input_offset=0,
                                      output_offset=0, act_min=act[0], act_max=act[1])
    layer, tensors = _layer(QOp.FULLY_CONNECTED, params, [(batch, k)], (batch, o))
    check(layer, [_random(rng, (batch, k))], tensors)


scales = st.floats(1e-5, 1.0)


@cfg(100)
@given(st.integers(1, 200), scales, scales, scales, act_ranges16(), seeds)
def test_add_s16(size, s1, s2, so, act, seed):
    assume(2 * max(s1, s2) / (2**15 * so) < 1.0)  # Prepare's condition on the output multiplier
    rng = np.random.default_rng(seed)
    params = fp.prepare_add(s1, 0, s2, 0, so, 0, *act, left_shift=fp.ADD_LEFT_SHIFT_S16)
    layer, tensors = _layer(QOp.ADD, params, [(1, size), (1, size)], (1, size))
    a, b = _random(rng, (1, size)), _random(rng, (1, size))
    got = check(layer, [a, b], tensors).astype(np.int64)
    exact = (s1 * a.astype(np.int64) + s2 * b.astype(np.int64)) / so
    assert np.all(np.abs(got - np.clip(np.round(exact), *act)) <= 1)  # TFLite's Add: within one LSB


def _pool16(op, pool):
    """A pool layer from test_kernels' window strategy, with int16 tensors, an int16 clamp (the int8 one
    widened) and padding value 0."""
    p, in_shape, out_shape = pool
    lo, hi = p.act_min * 256, p.act_max * 256 + 255
    params = qir.PoolParams(kernel=p.kernel, stride=p.stride, padding=p.padding, act_min=lo, act_max=hi,
                            count_include_pad=p.count_include_pad, pad_value=0)
    return _layer(op, params, [in_shape], out_shape)


@cfg(100)
@given(pool_layers(), seeds)
def test_max_pool_s16(pool, seed):
    layer, tensors = _pool16(QOp.MAX_POOL, pool)
    check(layer, [_random(np.random.default_rng(seed), tensors["in0"].shape)], tensors)


@cfg(100)
@given(pool_layers(), seeds)
def test_avg_pool_s16(pool, seed):
    layer, tensors = _pool16(QOp.AVG_POOL, pool)
    check(layer, [_random(np.random.default_rng(seed), tensors["in0"].shape)], tensors)


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
    _, t_up = _layer(QOp.REQUANTIZE, None, [(1, size)], (1, size), in_dtype="int8", out_dtype="int16")
    _, t_down = _layer(QOp.REQUANTIZE, None, [(1, size)], (1, size), in_dtype="int16", out_dtype="int8")
    wide = check(up, [x], t_up)
    back = check(down, [wide], t_down)
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
    layer, tensors = _layer(QOp.CONV, params, [(1, 1, 1, 1)], (1, 1, 1, c_out))
    for value in (-32768, -1, 0, 1, 32767):
        check(layer, [np.array([[[[value]]]], dtype=np.int16)], tensors)
