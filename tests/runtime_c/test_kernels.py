"""The C kernels (runtime_c) equal the golden model (mcuq.golden) bit for bit, and the Prepare math
(mcuq.numerics.fixedpoint) equals TFLite's.

Random layers come from hypothesis: it picks the structure (shapes, strides, dilations, padding,
groups, channel multiplier, zero points, clamps); a seeded numpy generator fills the data and the
per-channel multipliers, which come from ``quantize_multiplier`` of random real scales.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mcuq import golden, qir
from mcuq.codegen.emit import folded_bias
from mcuq.numerics import fixedpoint as fp
from mcuq.plan import inplace
from mcuq.plan.concat import CHANNEL_SLICE_OPS
from mcuq.qir.model import QOp
from tests.helpers.c_kernels import VARIANTS, load, support, use_variant


@pytest.fixture(autouse=True, params=list(VARIANTS))
def kernel_variant(request):
    """Every test here runs on each kernel path the host can run: portable C and the emulated DSP path."""
    use_variant(request.param)
    yield request.param
    use_variant("portable")


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


# --------------------------------------------------------------------------------------------------
# calling the C kernels
# --------------------------------------------------------------------------------------------------


def _i8(ffi, a: np.ndarray):
    return ffi.from_buffer("int8_t[]", a)


def _i32(ffi, a: np.ndarray):
    return ffi.from_buffer("int32_t[]", a)


def _dims(ffi, shape):
    n, h, w, c = shape
    return ffi.new("mcuq_dims *", {"n": n, "h": h, "w": w, "c": c})


def _pad4(values, fill):
    return [fill] * (4 - len(values)) + list(values)


def _io_buffers(inputs, out_shape, inplace):
    """The input arrays and the output array a kernel gets. With ``inplace = (k, shift)`` input k and
    the output are views of one buffer of random bytes, the output starting ``shift`` bytes after the
    input's start, as the arena planner lays out a layer that runs in place."""
    ins = [np.ascontiguousarray(x, dtype=np.int8) for x in inputs]
    if inplace is None:
        return ins, np.zeros(out_shape, dtype=np.int8)
    k, shift = inplace
    out_size = math.prod(out_shape)
    start = -min(0, shift)
    buf = _random_i8(np.random.default_rng(out_size), max(ins[k].size, shift + out_size) + start)
    view = buf[start : start + ins[k].size].reshape(ins[k].shape)
    view[...] = ins[k]
    ins[k] = view
    return ins, buf[start + shift : start + shift + out_size].reshape(out_shape)


def _slice_buffer(out_shape, first: int, stride: int):
    """A buffer of random bytes laid out as pixels of ``stride`` channels, as a Concat's output, and
    the flat view that starts at channel ``first`` of its first pixel: where a producer writing its
    channel slice gets its output pointer."""
    pixels = math.prod(out_shape[:-1])
    buf = _random_i8(np.random.default_rng(stride * pixels + first), (pixels, stride))
    return buf, buf.reshape(-1)[first:]


def run_c(
    layer: qir.Layer,
    inputs: list[np.ndarray],
    tensors: dict[str, qir.QTensor],
    inplace: tuple[int, int] | None = None,
    channel_slice: tuple[int, int] | None = None,
    roomy: bool = False,
) -> np.ndarray:
    """Run one layer through its C kernel; asserts MCUQ_OK and returns the int8 output. ``roomy``: give
    the kernel the scratch of its faster path (golden.roomy_scratch_bytes) instead of the least. ``inplace``:
    (input index, shift) to make the output overlap that input (see ``_io_buffers``).
    ``channel_slice``: (first channel, pixel stride) to write the output as channels [first, first + C)
    of pixels ``stride`` channels wide (see ``_slice_buffer``); the bytes outside that slice must stay
    untouched."""
    ffi, lib = load()
    out_shape = tensors[layer.output].shape
    ins, out = _io_buffers(inputs, out_shape, inplace)
    channels = out_shape[-1] if out_shape else 1
    first, stride = channel_slice or (0, channels)
    if channel_slice is not None:
        buf, out = _slice_buffer(out_shape, first, stride)
        before = buf.copy()
    size = math.prod(out_shape)
    # Elementwise kernels: one dense row, or one row per pixel when writing a channel slice.
    rows = {"rows": 1, "row_size": size, "output_row_stride": size} if channel_slice is None else \
        {"rows": size // channels, "row_size": channels, "output_row_stride": stride}
    keep = []  # cffi objects that must outlive the call
    p = layer.params

    def quant_pc():
        mult = np.ascontiguousarray(p.multiplier, dtype=np.int32)
        shift = np.ascontiguousarray(p.shift, dtype=np.int32)
        keep.extend([mult, shift])
        return ffi.new("mcuq_per_channel_quant *", {"multiplier": _i32(ffi, mult), "shift": _i32(ffi, shift)})

    if layer.op in (QOp.CONV, QOp.DEPTHWISE_CONV):
        in_shape = tensors[layer.inputs[0]].shape
        w = np.ascontiguousarray(p.weights, dtype=np.int8)
        bias = np.ascontiguousarray(folded_bias(layer.op, p))
        conv = {
            "input_offset": p.input_offset,
            "output_offset": p.output_offset,
            "stride": {"h": p.stride[0], "w": p.stride[1]},
            "dilation": {"h": p.dilation[0], "w": p.dilation[1]},
            "padding": dict(zip(("top", "left", "bottom", "right"), p.padding)),
            "activation": {"min": p.act_min, "max": p.act_max},
            "output_pixel_stride": stride,
        }
        if layer.op is QOp.CONV:
            conv["groups"] = p.groups
            params = ffi.new("mcuq_conv_params *", conv)
            fdims = _dims(ffi, w.shape)
            size = lib.mcuq_convolve_s8_get_buffer_size(_dims(ffi, in_shape), fdims)
            if roomy:
                size = max(size, golden.roomy_scratch_bytes(layer, tensors))
            kernel = lib.mcuq_convolve_s8
        else:
            conv["ch_mult"] = p.ch_mult
            params = ffi.new("mcuq_dw_conv_params *", conv)
            fdims = _dims(ffi, w.shape)
            size = lib.mcuq_depthwise_conv_s8_get_buffer_size(_dims(ffi, in_shape), fdims)
            if roomy:
                size = max(size, golden.roomy_scratch_bytes(layer, tensors))
            kernel = lib.mcuq_depthwise_conv_s8
        scratch = ffi.new("int16_t[]", max(size // 2, 1))
        ctx = ffi.new("mcuq_context *", {"buf": scratch, "size": size})
        status = kernel(
            ctx,
            params,
            quant_pc(),
            _dims(ffi, in_shape),
            _i8(ffi, ins[0]),
            fdims,
            _i8(ffi, w),
            _i32(ffi, bias),
            _dims(ffi, out_shape),
            _i8(ffi, out),
        )
    elif layer.op is QOp.FULLY_CONNECTED:
        w = np.ascontiguousarray(p.weights, dtype=np.int8)
        bias = np.ascontiguousarray(folded_bias(layer.op, p))
        o, k = w.shape
        batch = ins[0].size // k
        params = ffi.new(
            "mcuq_fc_params *",
            {
                "input_offset": p.input_offset,
                "output_offset": p.output_offset,
                "activation": {"min": p.act_min, "max": p.act_max},
            },
        )
        dims = ffi.new("mcuq_fc_dims *", {"batches": batch, "input_depth": k, "output_depth": o})
        status = lib.mcuq_fully_connected_s8(
            params, quant_pc(), dims, _i8(ffi, ins[0]), _i8(ffi, w), _i32(ffi, bias), _i8(ffi, out)
        )
    elif layer.op is QOp.ADD:
        params = ffi.new(
            "mcuq_add_params *",
            {
                "input1_offset": p.input1_offset,
                "input1_quant": {"multiplier": p.input1_multiplier, "shift": p.input1_shift},
                "input2_offset": p.input2_offset,
                "input2_quant": {"multiplier": p.input2_multiplier, "shift": p.input2_shift},
                "left_shift": p.left_shift,
                "output_offset": p.output_offset,
                "output_quant": {"multiplier": p.output_multiplier, "shift": p.output_shift},
                "activation": {"min": p.act_min, "max": p.act_max},
            },
        )
        status = lib.mcuq_elementwise_add_s8(
            params, ffi.new("mcuq_elementwise_dims *", rows), _i8(ffi, ins[0]), _i8(ffi, ins[1]), _i8(ffi, out)
        )
    elif layer.op is QOp.MUL:
        params = ffi.new(
            "mcuq_mul_params *",
            {
                "input1_offset": p.input1_offset,
                "input2_offset": p.input2_offset,
                "output_offset": p.output_offset,
                "output_quant": {"multiplier": p.output_multiplier, "shift": p.output_shift},
                "activation": {"min": p.act_min, "max": p.act_max},
            },
        )
        status = lib.mcuq_elementwise_mul_s8(
            params, ffi.new("mcuq_elementwise_dims *", rows), _i8(ffi, ins[0]), _i8(ffi, ins[1]), _i8(ffi, out)
        )
    elif layer.op in (QOp.MAX_POOL, QOp.AVG_POOL):
        params = ffi.new(
            "mcuq_pool_params *",
            {
                "kernel": {"h": p.kernel[0], "w": p.kernel[1]},
                "stride": {"h": p.stride[0], "w": p.stride[1]},
                "padding": dict(zip(("top", "left", "bottom", "right"), p.padding)),
                "activation": {"min": p.act_min, "max": p.act_max},
                "count_include_pad": int(p.count_include_pad),
                "pad_value": p.pad_value,
                "output_pixel_stride": stride,
            },
        )
        kernel = lib.mcuq_max_pool_s8 if layer.op is QOp.MAX_POOL else lib.mcuq_avg_pool_s8
        in_shape = tensors[layer.inputs[0]].shape
        status = kernel(params, _dims(ffi, in_shape), _i8(ffi, ins[0]), _dims(ffi, out_shape), _i8(ffi, out))
    elif layer.op is QOp.SOFTMAX:
        params = ffi.new(
            "mcuq_softmax_params *",
            {
                "input_multiplier": p.input_multiplier,
                "input_left_shift": p.input_left_shift,
                "diff_min": p.diff_min,
            },
        )
        row = out_shape[-1]
        status = lib.mcuq_softmax_s8(params, _i8(ffi, ins[0]), out.size // row, row, _i8(ffi, out))
    elif layer.op is QOp.LUT:
        table = np.ascontiguousarray(p.table, dtype=np.int8)
        dims = ffi.new("mcuq_elementwise_dims *", rows)
        status = lib.mcuq_lut_s8(_i8(ffi, table), dims, _i8(ffi, ins[0]), _i8(ffi, out))
    elif layer.op is QOp.CONCAT:
        axis = p.axis % len(out_shape)
        outer = math.prod(out_shape[:axis])
        inner = math.prod(out_shape[axis + 1 :])
        start = 0
        status = lib.MCUQ_OK
        for i, x in enumerate(ins):
            extent = tensors[layer.inputs[i]].shape[axis]
            params = ffi.new(
                "mcuq_concat_params *",
                {
                    "outer": outer,
                    "inner": inner,
                    "axis_offset": start,
                    "axis_size": extent,
                    "out_axis_size": out_shape[axis],
                    "input_offset": p.input_offsets[i],
                    "quant": {"multiplier": p.multipliers[i], "shift": p.shifts[i]},
                    "output_offset": p.output_offset,
                },
            )
            status = lib.mcuq_concat_s8(params, _i8(ffi, x), _i8(ffi, out))
            assert status == lib.MCUQ_OK
            start += extent
    elif layer.op is QOp.TRANSPOSE:
        in_shape = tensors[layer.inputs[0]].shape
        lead = 4 - len(in_shape)
        perm = list(range(lead)) + [lead + a for a in p.perm]
        params = ffi.new("mcuq_transpose_params *", {"dims": _pad4(in_shape, 1), "perm": perm})
        status = lib.mcuq_transpose_s8(params, _i8(ffi, ins[0]), _i8(ffi, out))
    elif layer.op is QOp.PAD:
        in_shape = tensors[layer.inputs[0]].shape
        r = len(in_shape)
        params = ffi.new(
            "mcuq_pad_params *",
            {
                "dims": _pad4(in_shape, 1),
                "before": _pad4(p.pads[:r], 0),
                "after": _pad4(p.pads[r:], 0),
                "pad_value": p.pad_value,
            },
        )
        status = lib.mcuq_pad_s8(params, _i8(ffi, ins[0]), _i8(ffi, out))
    else:
        raise AssertionError(f"no C kernel for {layer.op}")
    assert status == lib.MCUQ_OK
    if channel_slice is None:
        return out.copy()
    outside = np.ones(buf.shape, dtype=bool)
    outside[:, first : first + channels] = False
    np.testing.assert_array_equal(buf[outside], before[outside], err_msg="wrote outside its channel slice")
    return buf[:, first : first + channels].reshape(out_shape).copy()


def _assert_same(want: np.ndarray, got: np.ndarray, what: str) -> None:
    assert want.dtype == np.int8 and want.shape == got.shape
    bad = np.flatnonzero(want != got)
    assert bad.size == 0, (
        f"{what}: {bad.size} of {want.size} differ, first at {bad[0]}: golden {want.flat[bad[0]]} "
        f"C {got.flat[bad[0]]}"
    )


def check(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """The C kernel equals the golden model, with separate buffers and, where the planner may run the
    layer in place, with the output written over its input at the largest shift it allows."""
    want = golden.run_layer(layer, inputs, tensors)
    _assert_same(want, run_c(layer, inputs, tensors), "separate buffers")
    roomy = golden.roomy_scratch_bytes(layer, tensors) > golden.scratch_bytes(layer, tensors)
    if roomy:
        _assert_same(want, run_c(layer, inputs, tensors, roomy=True), "roomy scratch")
    shift = inplace.max_shift(layer, tensors)
    if shift is not None:
        for k in range(len(inputs) if layer.op in (QOp.ADD, QOp.MUL) else 1):
            _assert_same(want, run_c(layer, inputs, tensors, (k, shift)), f"in place over input {k}, shift {shift}")
            if roomy:
                _assert_same(want, run_c(layer, inputs, tensors, (k, shift), roomy=True),
                             f"in place over input {k}, shift {shift}, roomy scratch")
    if layer.op in CHANNEL_SLICE_OPS:
        for first, stride in _channel_slices(want.shape[-1], want.size):
            got = run_c(layer, inputs, tensors, channel_slice=(first, stride))
            _assert_same(want, got, f"as channels {first}.. of pixels {stride} wide")
    return want


def _channel_slices(channels: int, size: int) -> list[tuple[int, int]]:
    """(first channel, pixel stride) of the Concat slices a producer is tested writing: stride ==
    channels (a dense output, today's behaviour) and a wider pixel with the slice at some offset."""
    extra = 1 + size % 5
    return [(0, channels), (size % (extra + 1), channels + extra)]


# --------------------------------------------------------------------------------------------------
# random layers
# --------------------------------------------------------------------------------------------------


def _tensor(name, shape, zp=0):
    return qir.QTensor(name, tuple(int(d) for d in shape), 1.0, int(zp))


def _layer(op, params, in_shapes, out_shape):
    names = tuple(f"in{i}" for i in range(len(in_shapes)))
    tensors = {n: _tensor(n, s) for n, s in zip(names, in_shapes)}
    tensors["out"] = _tensor("out", out_shape)
    return qir.Layer(op, op.value, names, "out", params), tensors


def _random_i8(rng, shape):
    return rng.integers(-128, 128, size=shape, dtype=np.int64).astype(np.int8)


def _channel_requant(rng, channels: int, acc_terms: int):
    """Per-channel (multiplier, shift) from real scales that map a typical accumulator of
    ``acc_terms`` products onto a few dozen LSB, with the odd scale above 1 (left shifts)."""
    typical = 64.0 / (math.sqrt(acc_terms) * 4000.0)
    reals = typical * 2.0 ** rng.uniform(-4, 4, size=channels)
    big = rng.random(channels) < 0.1
    reals[big] = 2.0 ** rng.uniform(0, 3, size=int(big.sum()))
    return fp.quantize_multipliers(reals)


def _out(size, pad_a, pad_b, k, s, d):
    return (size + pad_a + pad_b - d * (k - 1) - 1) // s + 1


# H, W, KH, KW, stride h, w, dilation h, w, padding (top, left, bottom, right)
windows = st.tuples(
    *[st.integers(1, 8)] * 2,
    *[st.integers(1, 4)] * 2,
    *[st.integers(1, 3)] * 2,
    *[st.integers(1, 3)] * 2,
    st.tuples(*[st.integers(0, 3)] * 4),
)


@cfg(300)
@given(
    windows,
    st.integers(1, 3),
    st.integers(1, 4),
    st.integers(1, 4),
    st.integers(1, 2),
    zero_points,
    zero_points,
    act_ranges(),
    seeds,
)
def test_conv(window, groups, cg, og, batch, zp_in, zp_out, act, seed):
    h, w, kh, kw, sh, sw, dh, dw, pad = window
    oh, ow = _out(h, pad[0], pad[2], kh, sh, dh), _out(w, pad[1], pad[3], kw, sw, dw)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    c_out = groups * og
    mult, shift = _channel_requant(rng, c_out, kh * kw * cg)
    params = qir.ConvParams(
        weights=rng.integers(-127, 128, size=(c_out, kh, kw, cg)).astype(np.int8),
        bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32),
        multiplier=mult,
        shift=shift,
        input_offset=-zp_in,
        output_offset=zp_out,
        stride=(sh, sw),
        dilation=(dh, dw),
        padding=pad,
        act_min=act[0],
        act_max=act[1],
        groups=groups,
    )
    layer, tensors = _layer(QOp.CONV, params, [(batch, h, w, groups * cg)], (batch, oh, ow, c_out))
    check(layer, [_random_i8(rng, (batch, h, w, groups * cg))], tensors)


@cfg(300)
@given(windows, st.integers(1, 5), st.integers(1, 3), zero_points, zero_points, act_ranges(), seeds)
def test_depthwise_conv(window, c_in, ch_mult, zp_in, zp_out, act, seed):
    h, w, kh, kw, sh, sw, dh, dw, pad = window
    oh, ow = _out(h, pad[0], pad[2], kh, sh, dh), _out(w, pad[1], pad[3], kw, sw, dw)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    c_out = c_in * ch_mult
    mult, shift = _channel_requant(rng, c_out, kh * kw)
    params = qir.DepthwiseConvParams(
        weights=rng.integers(-127, 128, size=(1, kh, kw, c_out)).astype(np.int8),
        bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32),
        multiplier=mult,
        shift=shift,
        input_offset=-zp_in,
        output_offset=zp_out,
        stride=(sh, sw),
        dilation=(dh, dw),
        padding=pad,
        act_min=act[0],
        act_max=act[1],
        ch_mult=ch_mult,
    )
    layer, tensors = _layer(QOp.DEPTHWISE_CONV, params, [(1, h, w, c_in)], (1, oh, ow, c_out))
    check(layer, [_random_i8(rng, (1, h, w, c_in))], tensors)


@cfg(200)
@given(
    st.integers(1, 13),
    st.integers(1, 11),
    st.integers(1, 3),
    st.integers(1, 3),
    st.tuples(*[st.integers(0, 3)] * 4),
    st.sampled_from([1, 3, 4, 5, 8, 16, 17, 20, 33, 64]),
    st.integers(1, 2),
    zero_points,
    zero_points,
    act_ranges(),
    st.booleans(),
    seeds,
)
def test_depthwise_conv_3x3(h, w, sh, sw, pad, c, batch, zp_in, zp_out, act, extreme, seed):
    """The fast depthwise paths (3x3, ch_mult 1, dilation 1; padding up to 2 columns a side, more
    falls back to the portable loop): strides, channel counts that are and are not multiples of the
    vector width, batches, and the extreme accumulators of all -128 inputs and weights."""
    oh, ow = _out(h, pad[0], pad[2], 3, sh, 1), _out(w, pad[1], pad[3], 3, sw, 1)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    mult, shift = _channel_requant(rng, c, 9)
    weights = rng.integers(-127, 128, size=(1, 3, 3, c)).astype(np.int8)
    x = _random_i8(rng, (batch, h, w, c))
    if extreme:
        weights[...] = -128
        x[...] = -128
    params = qir.DepthwiseConvParams(
        weights=weights,
        bias=rng.integers(-(2**14), 2**14, size=c).astype(np.int32),
        multiplier=mult,
        shift=shift,
        input_offset=-zp_in,
        output_offset=zp_out,
        stride=(sh, sw),
        dilation=(1, 1),
        padding=pad,
        act_min=act[0],
        act_max=act[1],
        ch_mult=1,
    )
    layer, tensors = _layer(QOp.DEPTHWISE_CONV, params, [(batch, h, w, c)], (batch, oh, ow, c))
    check(layer, [x], tensors)


def _same_3x3(rng, h, w, c, op):
    """A 3x3 stride-1 "same" conv or depthwise conv with C channels in and out, and its input."""
    mult, shift = _channel_requant(rng, c, 9 * (c if op is QOp.CONV else 1))
    common = dict(bias=rng.integers(-(2**14), 2**14, size=c).astype(np.int32), multiplier=mult, shift=shift,
                  input_offset=3, output_offset=-5, stride=(1, 1), dilation=(1, 1), padding=(1, 1, 1, 1),
                  act_min=-128, act_max=127)
    if op is QOp.CONV:
        params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c, 3, 3, c)).astype(np.int8), **common)
    else:
        params = qir.DepthwiseConvParams(weights=rng.integers(-127, 128, size=(1, 3, 3, c)).astype(np.int8),
                                         **common)
    layer, tensors = _layer(op, params, [(1, h, w, c)], (1, h, w, c))
    return layer, tensors, _random_i8(rng, (1, h, w, c))


@pytest.mark.parametrize("op", [QOp.CONV, QOp.DEPTHWISE_CONV])
def test_inplace_3x3_conv_runs_one_row_and_one_pixel_ahead(op):
    h, w, c = 6, 7, 8
    layer, tensors, x = _same_3x3(np.random.default_rng(7), h, w, c, op)
    shift = inplace.max_shift(layer, tensors)
    assert shift == -(w + 1) * c
    want = check(layer, [x], tensors)  # bit-exact at that shift (and with separate buffers)
    # One byte less room: the kernel overwrites an input byte it still has to read.
    assert not np.array_equal(run_c(layer, [x], tensors, (0, shift + 1)), want)


# The int8 conv's fast paths (mcuq_convolve_s8.c) block two output pixels and two (DSP) or four (MVE)
# output channels, unroll K by 16 and hold columns of 16 <= K <= 64 in vector registers: shapes around
# those sizes, with odd pixel and channel counts, padding, strides and dilation, larger than the
# hypothesis layers above. (in shape NHWC, c_out, kernel, stride, dilation, padding)
FAST_CONV_SHAPES = [
    ((1, 5, 5, 64), 64, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),  # KWS pointwise, K = 64, 25 pixels
    ((1, 49, 10, 1), 12, (10, 4), (2, 2), (1, 1), (4, 1, 5, 2)),  # KWS first layer, K = 40
    ((1, 6, 7, 3), 16, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),  # ResNet-8 first layer, K = 27
    ((1, 6, 7, 16), 17, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),  # K = 144, odd channel count
    ((2, 7, 6, 16), 32, (3, 3), (2, 2), (1, 1), (0, 0, 1, 1)),  # stride 2, batch 2
    ((1, 8, 8, 16), 32, (1, 1), (2, 2), (1, 1), (0, 0, 0, 0)),  # 1x1 stride 2, K = 16
    ((1, 3, 5, 33), 7, (1, 1), (1, 1), (1, 1), (0, 0, 0, 0)),  # K = 33, three channels past a group of four
    ((1, 7, 7, 5), 6, (3, 3), (1, 1), (2, 2), (2, 1, 2, 1)),  # dilation, K = 45
    ((1, 4, 5, 2), 3, (2, 2), (1, 2), (1, 1), (1, 0, 0, 1)),  # K = 8 < 16
    ((1, 4, 4, 64), 5, (3, 3), (1, 1), (1, 1), (1, 1, 1, 1)),  # K = 576
]


@pytest.mark.parametrize("in_shape, c_out, kernel, stride, dilation, pad", FAST_CONV_SHAPES)
def test_conv_fast_path_shapes(in_shape, c_out, kernel, stride, dilation, pad):
    rng = np.random.default_rng(sum(in_shape) * 31 + c_out)
    n, h, w, c_in = in_shape
    kh, kw = kernel
    oh = _out(h, pad[0], pad[2], kh, stride[0], dilation[0])
    ow = _out(w, pad[1], pad[3], kw, stride[1], dilation[1])
    # The full int8 clamp and right shifts of 2 or more only (real models) have paths of their own.
    for act, left_shifts in (((-128, 127), False), ((-20, 90), True), ((-128, 127), True)):
        if left_shifts:
            mult, shift = _channel_requant(rng, c_out, kh * kw * c_in)
        else:
            reals = 64.0 / (math.sqrt(kh * kw * c_in) * 4000.0) * 2.0 ** rng.uniform(-4, 4, size=c_out)
            mult, shift = fp.quantize_multipliers(reals)
            assert np.all(shift <= -2)
        params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, kh, kw, c_in)).astype(np.int8),
                                bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32), multiplier=mult,
                                shift=shift, input_offset=int(rng.integers(-127, 129)),
                                output_offset=int(rng.integers(-128, 128)), stride=stride, dilation=dilation,
                                padding=pad, act_min=act[0], act_max=act[1])
        layer, tensors = _layer(QOp.CONV, params, [in_shape], (n, oh, ow, c_out))
        check(layer, [_random_i8(rng, in_shape)], tensors)


def test_inplace_shifts_of_pointwise_and_strided_convs():
    rng = np.random.default_rng(3)

    def conv(in_shape, c_out, k, stride, pad):
        c_in = in_shape[3]
        mult, shift = _channel_requant(rng, c_out, k * k * c_in)
        params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, k, k, c_in)).astype(np.int8),
                                bias=np.zeros(c_out, np.int32), multiplier=mult, shift=shift, input_offset=0,
                                output_offset=0, stride=(stride, stride), dilation=(1, 1), padding=pad,
                                act_min=-128, act_max=127)
        n, h, w, _ = in_shape
        oh, ow = _out(h, pad[0], pad[2], k, stride, 1), _out(w, pad[1], pad[3], k, stride, 1)
        return _layer(QOp.CONV, params, [in_shape], (n, oh, ow, c_out))

    # A 1x1 conv copies its pixel into scratch before writing it: fully in place.
    assert inplace.max_shift(*conv((1, 5, 5, 16), 16, 1, 1, (0, 0, 0, 0))) == 0
    # ResNet-8's stride-2 shortcut, 16 -> 32 channels, half the bytes: inside its input.
    layer, tensors = conv((1, 32, 32, 16), 32, 1, 2, (0, 0, 0, 0))
    assert inplace.max_shift(layer, tensors) == 0
    assert inplace.inplace_shift(layer, tensors, 0, 4) == 0
    check(layer, [_random_i8(rng, (1, 32, 32, 16))], tensors)
    # Twice the channels at stride 1: the output must start far enough before the input.
    layer, tensors = conv((1, 4, 4, 2), 4, 1, 1, (0, 0, 0, 0))
    # Pixel 14 ends at byte 15*4 + d and pixel 15 reads from byte 15*2: d <= -30.
    assert inplace.max_shift(layer, tensors) == -30
    assert inplace.inplace_shift(layer, tensors, 0, 4) == -32  # rounded down to the alignment
    check(layer, [_random_i8(rng, (1, 4, 4, 2))], tensors)


def test_no_inplace_where_it_saves_nothing():
    rng = np.random.default_rng(5)
    params = qir.FullyConnectedParams(weights=_random_i8(rng, (4, 8)), bias=np.zeros(4, np.int32),
                                      multiplier=np.full(4, 1 << 30, np.int32), shift=np.zeros(4, np.int32),
                                      input_offset=0, output_offset=0, act_min=-128, act_max=127)
    layer, tensors = _layer(QOp.FULLY_CONNECTED, params, [(1, 8)], (1, 4))
    assert inplace.max_shift(layer, tensors) is None
    lut, lut_tensors = _layer(QOp.LUT, qir.LutParams(table=_random_i8(rng, 256)), [(1, 9)], (1, 9))
    assert inplace.inplace_shift(lut, lut_tensors, 0, 4) == 0
    assert inplace.inplace_shift(lut, lut_tensors, 1, 4) is None  # a LUT has one input


@cfg(100)
@given(
    st.integers(1, 3), st.integers(1, 64), st.integers(1, 16), zero_points, zero_points, act_ranges(), seeds
)
def test_fully_connected(batch, k, o, zp_in, zp_out, act, seed):
    rng = np.random.default_rng(seed)
    mult, shift = _channel_requant(rng, o, k)
    params = qir.FullyConnectedParams(
        weights=rng.integers(-127, 128, size=(o, k)).astype(np.int8),
        bias=rng.integers(-(2**14), 2**14, size=o).astype(np.int32),
        multiplier=mult,
        shift=shift,
        input_offset=-zp_in,
        output_offset=zp_out,
        act_min=act[0],
        act_max=act[1],
    )
    layer, tensors = _layer(QOp.FULLY_CONNECTED, params, [(batch, k)], (batch, o))
    check(layer, [_random_i8(rng, (batch, k))], tensors)


scales = st.floats(1e-3, 1.0)


@cfg(100)
@given(pixel_rows, scales, zero_points, scales, zero_points, scales, zero_points, act_ranges(), seeds)
def test_add(shape, s1, z1, s2, z2, so, zo, act, seed):
    rng = np.random.default_rng(seed)
    params = fp.prepare_add(s1, z1, s2, z2, so, zo, *act)
    layer, tensors = _layer(QOp.ADD, params, [shape, shape], shape)
    a, b = _random_i8(rng, shape), _random_i8(rng, shape)
    got = check(layer, [a, b], tensors).astype(np.int64)
    a, b = a.astype(np.int64), b.astype(np.int64)
    # Against float: TFLite's Add is within one LSB of the rounded exact sum.
    exact = (s1 * (a - z1) + s2 * (b - z2)) / so + zo
    assert np.all(np.abs(got - np.clip(np.round(exact), *act)) <= 1)


@st.composite
def add_input_quant(draw):
    """An Add input's (multiplier, shift): TFLite's exact (2^30, 0) for the input with the larger scale,
    or any right shift, including those beyond the fast paths' range (they take the portable path)."""
    if draw(st.booleans()):
        return 1 << 30, 0
    return draw(st.integers(0, 2**31 - 1)), draw(st.integers(-25, 0))


@cfg(150)
@given(
    st.tuples(st.integers(1, 6), st.integers(1, 40)),
    add_input_quant(),
    add_input_quant(),
    st.integers(0, 20),
    st.integers(-255, 255),
    st.integers(-255, 255),
    st.integers(0, 2**31 - 1),
    st.integers(-31, 0),
    zero_points,
    act_ranges(),
    seeds,
)
def test_add_raw_params(shape, q1, q2, left_shift, off1, off2, mult_o, shift_o, zo, act, seed):
    # Parameters beyond what Prepare gives: every right shift of the inputs and the output, left
    # shifts other than 20, offsets up to 255, so that the fast paths' conditions (and the portable
    # fallback past them) are exercised: the output offset folded into the high word, swapped inputs.
    params = qir.AddParams(
        input1_offset=off1, input1_multiplier=q1[0], input1_shift=q1[1],
        input2_offset=off2, input2_multiplier=q2[0], input2_shift=q2[1],
        left_shift=left_shift, output_offset=zo, output_multiplier=mult_o, output_shift=shift_o,
        act_min=act[0], act_max=act[1],
    )
    layer, tensors = _layer(QOp.ADD, params, [shape, shape], shape)
    rng = np.random.default_rng(seed)
    check(layer, [_random_i8(rng, shape), _random_i8(rng, shape)], tensors)


@cfg(40)
@given(
    add_input_quant(),
    add_input_quant(),
    st.integers(0, 22),
    st.integers(-255, 255),
    st.integers(-255, 255),
    st.integers(2**30, 2**31 - 1),
    st.integers(0, 8),
    zero_points,
    act_ranges(),
)
def test_add_every_input_pair(q1, q2, left_shift, off1, off2, mult_o, extra, zo, act):
    # All 65,536 pairs of int8 inputs at once, with an output shift chosen to keep the output near
    # the int8 range (about 2^(left_shift - 1) per unit of the sum), so that the roundings of every
    # requantization step show in the bytes.
    shift_o = -min(31, max(2, left_shift + extra - 5))
    params = qir.AddParams(
        input1_offset=off1, input1_multiplier=q1[0], input1_shift=q1[1],
        input2_offset=off2, input2_multiplier=q2[0], input2_shift=q2[1],
        left_shift=left_shift, output_offset=zo, output_multiplier=mult_o, output_shift=shift_o,
        act_min=act[0], act_max=act[1],
    )
    x = np.arange(-128, 128, dtype=np.int8)
    a, b = np.meshgrid(x, x, indexing="ij")
    layer, tensors = _layer(QOp.ADD, params, [a.shape, a.shape], a.shape)
    check(layer, [a, b], tensors)


@cfg(100)
@given(pixel_rows, scales, zero_points, scales, zero_points, st.floats(1e-4, 1.0), zero_points, act_ranges(), seeds)
def test_mul(shape, s1, z1, s2, z2, so, zo, act, seed):
    rng = np.random.default_rng(seed)
    params = fp.prepare_mul(s1, z1, s2, z2, so, zo, *act)
    layer, tensors = _layer(QOp.MUL, params, [shape, shape], shape)
    a, b = _random_i8(rng, shape), _random_i8(rng, shape)
    got = check(layer, [a, b], tensors).astype(np.int64)
    a, b = a.astype(np.int64), b.astype(np.int64)
    exact = (s1 * (a - z1)) * (s2 * (b - z2)) / so + zo
    assert np.all(np.abs(got - np.clip(np.round(exact), *act)) <= 1)


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
    oh, ow = _out(h, pad[0], pad[2], kh, stride[0], 1), _out(w, pad[1], pad[3], kw, stride[1], 1)
    if oh < 1 or ow < 1:
        h, w = h + kh, w + kw
        oh, ow = _out(h, pad[0], pad[2], kh, stride[0], 1), _out(w, pad[1], pad[3], kw, stride[1], 1)
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


@cfg(100)
@given(pool_layers(), seeds)
def test_max_pool(pool, seed):
    params, in_shape, out_shape = pool
    layer, tensors = _layer(QOp.MAX_POOL, params, [in_shape], out_shape)
    check(layer, [_random_i8(np.random.default_rng(seed), in_shape)], tensors)


@cfg(150)
@given(pool_layers(), seeds)
def test_avg_pool(pool, seed):
    params, in_shape, out_shape = pool
    layer, tensors = _layer(QOp.AVG_POOL, params, [in_shape], out_shape)
    check(layer, [_random_i8(np.random.default_rng(seed), in_shape)], tensors)


@st.composite
def wide_pool_layers(draw):
    """Pools as the models have them (many channels, big windows up to a global pool of more than
    256 taps, e.g. 25x5 over 25x5x64), for the multi-channel fast paths and their int16 lanes."""
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    kh, kw = (h, w) if draw(st.booleans()) else (draw(st.integers(1, h)), draw(st.integers(1, w)))
    pad = (draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1)), draw(st.integers(0, kh - 1)),
           draw(st.integers(0, kw - 1)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    oh, ow = _out(h, pad[0], pad[2], kh, stride[0], 1), _out(w, pad[1], pad[3], kw, stride[1], 1)
    act = draw(act_ranges())
    params = qir.PoolParams(kernel=(kh, kw), stride=stride, padding=pad, act_min=act[0], act_max=act[1],
                            count_include_pad=draw(st.booleans()), pad_value=draw(zero_points))
    c = draw(st.integers(1, 40))
    return params, (1, h, w, c), (1, oh, ow, c)


@cfg(150)
@given(wide_pool_layers(), st.sampled_from(["random", "min", "max"]), seeds)
def test_pools_many_channels_big_windows(pool, fill, seed):
    params, in_shape, out_shape = pool
    rng = np.random.default_rng(seed)
    # Constant -128 or 127 inputs fill the int16 lanes of the fast paths to their limits.
    x = {"random": _random_i8(rng, in_shape), "min": np.full(in_shape, -128, np.int8),
         "max": np.full(in_shape, 127, np.int8)}[fill]
    for op in (QOp.AVG_POOL, QOp.MAX_POOL):
        layer, tensors = _layer(op, params, [in_shape], out_shape)
        check(layer, [x], tensors)


@pytest.mark.parametrize("shape", [(25, 5, 64), (8, 8, 64), (20, 20, 9), (1, 300, 12), (300, 1, 4), (17, 16, 8)])
@pytest.mark.parametrize("value", [-128, 127, None])
def test_global_pools_fill_the_int16_lanes(shape, value):
    # Global pools of the models (KWS 25x5x64, ResNet-8 8x8x64) and windows of more than 256 taps,
    # whole rows at once or one row of 300: the fast paths' int16 lanes at their limits.
    h, w, c = shape
    x = _random_i8(np.random.default_rng(h * w * c), (1, h, w, c)) if value is None else np.full((1, h, w, c), value, np.int8)
    params = qir.PoolParams(kernel=(h, w), stride=(1, 1), padding=(0, 0, 0, 0), act_min=-128, act_max=127)
    for op in (QOp.AVG_POOL, QOp.MAX_POOL):
        layer, tensors = _layer(op, params, [(1, h, w, c)], (1, 1, 1, c))
        check(layer, [x], tensors)


def test_avg_pool_rounds_half_away_from_zero():
    # Windows of two elements: sums 1, -1, 3, -3 -> 0.5, -0.5, 1.5, -1.5 -> 1, -1, 2, -2.
    params = qir.PoolParams(kernel=(1, 2), stride=(1, 2), padding=(0, 0, 0, 0), act_min=-128, act_max=127)
    layer, tensors = _layer(QOp.AVG_POOL, params, [(1, 1, 8, 1)], (1, 1, 4, 1))
    x = np.array([0, 1, 0, -1, 1, 2, -1, -2], dtype=np.int8).reshape(1, 1, 8, 1)
    assert check(layer, [x], tensors).ravel().tolist() == [1, -1, 2, -2]


def _softmax_layer(shape, scale, beta=1.0):
    return _layer(QOp.SOFTMAX, fp.prepare_softmax(scale, beta), [shape], shape)


@cfg(150)
@given(st.integers(1, 4), st.integers(1, 40), st.floats(1e-3, 0.5), st.integers(0, 255), seeds)
def test_softmax(rows, row, scale, spread, seed):
    rng = np.random.default_rng(seed)
    layer, tensors = _softmax_layer((rows, row), scale)
    x = rng.integers(127 - spread, 128, size=(rows, row)).astype(np.int8)
    got = check(layer, [x], tensors)
    z = np.float32(scale) * x.astype(np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    ref = e / e.sum(axis=1, keepdims=True)
    # Output scale 1/256, zero point -128: within 1/256 of the float softmax.
    assert np.max(np.abs((got.astype(np.float64) + 128) / 256 - ref)) <= 1.0 / 256 + 1e-9


def test_softmax_long_row_exp_sum_beyond_2_28():
    # 600 equal values: the exp sum is 600 * 2^19 > 2^28, so bits_over_unit > 31 (see
    # mcuq_softmax_s8.c). Each probability is 1/600 < 0.5 LSB: -128 everywhere.
    layer, tensors = _softmax_layer((1, 600), 0.05)
    x = np.full((1, 600), 3, dtype=np.int8)
    assert np.all(check(layer, [x], tensors) == -128)


@cfg(100)
@given(
    st.integers(1, 3),
    st.integers(1, 30),
    st.integers(1 << 30, (1 << 31) - 1),
    st.booleans(),
    st.integers(0, 30),
    seeds,
)
def test_softmax_raw_params(rows, row, mult, tie_prone, left_shift, seed):
    # Any multiplier/shift pair, with diff_min from CalculateInputRadius. A multiplier that is
    # 128 mod 256 makes the first doubling high multiply hit exact ties (odd diff with shift 23).
    if tie_prone:
        mult = (mult & ~0xFF) | 0x80
    radius = (31 << 26) >> left_shift
    params = qir.SoftmaxParams(mult, left_shift, -radius)
    layer, tensors = _layer(QOp.SOFTMAX, params, [(rows, row)], (rows, row))
    check(layer, [_random_i8(np.random.default_rng(seed), (rows, row))], tensors)


@cfg(30)
@given(pixel_rows, seeds)
def test_lut(shape, seed):
    rng = np.random.default_rng(seed)
    params = qir.LutParams(table=_random_i8(rng, 256))
    layer, tensors = _layer(QOp.LUT, params, [shape], shape)
    x = _random_i8(rng, shape)
    assert np.array_equal(check(layer, [x], tensors), params.table[x.astype(np.int64) + 128])


@st.composite
def concat_layers(draw):
    rank = draw(st.integers(1, 4))
    shape = [draw(st.integers(1, 4)) for _ in range(rank)]
    axis = draw(st.integers(-rank, rank - 1))
    n = draw(st.integers(1, 3))
    extents = [draw(st.integers(1, 3)) for _ in range(n)]
    in_shapes = []
    for e in extents:
        s = list(shape)
        s[axis] = e
        in_shapes.append(tuple(s))
    out_shape = list(shape)
    out_shape[axis] = sum(extents)
    reals = [draw(st.one_of(st.just(0.0), st.floats(0.05, 4.0))) for _ in range(n)]
    qm = [fp.quantize_multiplier(r) for r in reals]
    params = qir.ConcatParams(
        axis=axis,
        input_offsets=tuple(-draw(zero_points) for _ in range(n)),
        multipliers=tuple(m for m, _ in qm),
        shifts=tuple(s for _, s in qm),
        output_offset=draw(zero_points),
    )
    return params, in_shapes, tuple(out_shape)


@cfg(80)
@given(concat_layers(), seeds)
def test_concat(concat, seed):
    params, in_shapes, out_shape = concat
    rng = np.random.default_rng(seed)
    layer, tensors = _layer(QOp.CONCAT, params, in_shapes, out_shape)
    inputs = [_random_i8(rng, s) for s in in_shapes]
    got = check(layer, inputs, tensors)
    # Inputs with multiplier 0 appear verbatim in the output.
    pieces = np.split(got, np.cumsum([s[params.axis] for s in in_shapes])[:-1], axis=params.axis)
    for x, piece, m in zip(inputs, pieces, params.multipliers):
        if m == 0:
            assert np.array_equal(x, piece)


@cfg(60)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.randoms(use_true_random=False), seeds)
def test_transpose(shape, random, seed):
    perm = list(range(len(shape)))
    random.shuffle(perm)
    out_shape = tuple(shape[a] for a in perm)
    layer, tensors = _layer(QOp.TRANSPOSE, qir.TransposeParams(tuple(perm)), [tuple(shape)], out_shape)
    x = _random_i8(np.random.default_rng(seed), shape)
    assert np.array_equal(check(layer, [x], tensors), np.transpose(x, perm))


@cfg(60)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data(), zero_points, seeds)
def test_pad(shape, data, pad_value, seed):
    r = len(shape)
    pads = tuple(data.draw(st.lists(st.integers(0, 2), min_size=2 * r, max_size=2 * r)))
    out_shape = tuple(shape[i] + pads[i] + pads[r + i] for i in range(r))
    layer, tensors = _layer(QOp.PAD, qir.PadParams(pads, pad_value), [tuple(shape)], out_shape)
    x = _random_i8(np.random.default_rng(seed), shape)
    got = check(layer, [x], tensors)
    inner = tuple(slice(pads[i], pads[i] + shape[i]) for i in range(r))
    assert np.array_equal(got[inner], x)
    assert np.count_nonzero(got == pad_value) >= got.size - x.size


def test_run_model_chains_layers_and_checks_feeds():
    rng = np.random.default_rng(0)
    conv = qir.ConvParams(
        weights=_random_i8(rng, (4, 3, 3, 2)).clip(-127, 127),
        bias=rng.integers(-500, 500, size=4).astype(np.int32),
        multiplier=np.full(4, 1 << 30, np.int32),
        shift=np.full(4, -8, np.int32),
        input_offset=5,
        output_offset=-3,
        stride=(1, 1),
        dilation=(1, 1),
        padding=(1, 1, 1, 1),
        act_min=-128,
        act_max=127,
    )
    pool = qir.PoolParams(kernel=(6, 6), stride=(1, 1), padding=(0, 0, 0, 0), act_min=-128, act_max=127)
    tensors = {
        "x": _tensor("x", (1, 6, 6, 2), -5),
        "c": _tensor("c", (1, 6, 6, 4), -3),
        "p": _tensor("p", (1, 1, 1, 4), -3),
        "y": _tensor("y", (1, 4), -128),
    }
    layers = [
        qir.Layer(QOp.CONV, "conv", ("x",), "c", conv),
        qir.Layer(QOp.AVG_POOL, "pool", ("c",), "p", pool),
        qir.Layer(QOp.SOFTMAX, "softmax", ("p",), "y", fp.prepare_softmax(0.1)),
    ]
    model = qir.QModel("m", tensors, layers, ["x"], ["y"])
    x = _random_i8(rng, (1, 6, 6, 2))
    values = golden.run_model(model, {"x": x})
    assert set(values) == {"x", "c", "p", "y"}
    want = x
    for layer in layers:
        want = check(layer, [want], tensors)
        assert np.array_equal(values[layer.output], want)
    assert values["y"].shape == (1, 4)
    with pytest.raises(ValueError):
        golden.run_model(model, {"x": x.astype(np.int32)})
    with pytest.raises(ValueError):
        golden.run_model(model, {"x": x[:, :3]})


# --------------------------------------------------------------------------------------------------
# scratch buffers and argument checks
# --------------------------------------------------------------------------------------------------


@cfg(50)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 8), st.integers(1, 4), st.integers(1, 8))
def test_scratch_bytes_equal_c_get_buffer_size(kh, kw, cg, groups, og):
    ffi, lib = load()
    params = qir.ConvParams(
        weights=np.zeros((groups * og, kh, kw, cg), np.int8),
        bias=np.zeros(groups * og, np.int32),
        multiplier=np.zeros(groups * og, np.int32),
        shift=np.zeros(groups * og, np.int32),
        input_offset=0,
        output_offset=0,
        stride=(1, 1),
        dilation=(1, 1),
        padding=(0, 0, 0, 0),
        act_min=-128,
        act_max=127,
        groups=groups,
    )
    in_shape = (1, kh + 2, kw + 2, groups * cg)
    layer, tensors = _layer(QOp.CONV, params, [in_shape], (1, 3, 3, groups * og))
    want = lib.mcuq_convolve_s8_get_buffer_size(_dims(ffi, in_shape), _dims(ffi, params.weights.shape))
    assert golden.scratch_bytes(layer, tensors) == want == 2 * kh * kw * cg
    roomy = lib.mcuq_convolve_s8_get_roomy_buffer_size(_dims(ffi, in_shape), _dims(ffi, params.weights.shape))
    if groups == 1:  # the C function gives the least where no faster path applies; golden gives 0
        assert max(golden.roomy_scratch_bytes(layer, tensors), golden.scratch_bytes(layer, tensors)) == roomy
    dw = qir.DepthwiseConvParams(
        weights=np.zeros((1, kh, kw, cg), np.int8),
        bias=np.zeros(cg, np.int32),
        multiplier=np.zeros(cg, np.int32),
        shift=np.zeros(cg, np.int32),
        input_offset=0,
        output_offset=0,
        stride=(1, 1),
        dilation=(1, 1),
        padding=(0, 0, 0, 0),
        act_min=-128,
        act_max=127,
    )
    dw_layer, dw_tensors = _layer(QOp.DEPTHWISE_CONV, dw, [(1, kh, kw, cg)], (1, 1, 1, cg))
    c_dw = lib.mcuq_depthwise_conv_s8_get_buffer_size(
        _dims(ffi, (1, kh, kw, cg)), _dims(ffi, (1, kh, kw, cg))
    )
    assert golden.scratch_bytes(dw_layer, dw_tensors) == c_dw
    c_dw_roomy = lib.mcuq_depthwise_conv_s8_get_roomy_buffer_size(
        _dims(ffi, (1, kh, kw, cg)), _dims(ffi, (1, kh, kw, cg))
    )
    assert max(golden.roomy_scratch_bytes(dw_layer, dw_tensors), c_dw) == c_dw_roomy


def _conv_call(ctx_size=None, out_hw=(2, 2), groups=1, pixel_stride=4):
    """Call mcuq_convolve_s8 on a 3x3x2 input, 2x2 kernel, 4 output channels; returns the status."""
    ffi, lib = load()
    w = np.ones((4, 2, 2, 2 // groups), np.int8)
    params = ffi.new(
        "mcuq_conv_params *",
        {
            "stride": {"h": 1, "w": 1},
            "dilation": {"h": 1, "w": 1},
            "activation": {"min": -128, "max": 127},
            "groups": groups,
            "output_pixel_stride": pixel_stride,
        },
    )
    mult, shift, bias = np.full(4, 1 << 30, np.int32), np.zeros(4, np.int32), np.zeros(4, np.int32)
    quant = ffi.new("mcuq_per_channel_quant *", {"multiplier": _i32(ffi, mult), "shift": _i32(ffi, shift)})
    need = lib.mcuq_convolve_s8_get_buffer_size(_dims(ffi, (1, 3, 3, 2)), _dims(ffi, w.shape))
    size = need if ctx_size is None else ctx_size
    scratch = ffi.new("int16_t[]", max(size, 2))
    ctx = ffi.new("mcuq_context *", {"buf": scratch, "size": size})
    x = np.zeros((1, 3, 3, 2), np.int8)
    out = np.zeros((1, *out_hw, max(4, pixel_stride)), np.int8)
    return lib.mcuq_convolve_s8(
        ctx,
        params,
        quant,
        _dims(ffi, x.shape),
        _i8(ffi, x),
        _dims(ffi, w.shape),
        _i8(ffi, w),
        _i32(ffi, bias),
        _dims(ffi, (1, *out_hw, 4)),
        _i8(ffi, out),
    )


def test_conv_rejects_inconsistent_arguments():
    _, lib = load()
    assert _conv_call() == lib.MCUQ_OK
    assert _conv_call(groups=2) == lib.MCUQ_OK
    assert _conv_call(ctx_size=15) == lib.MCUQ_ARG_ERROR  # needs 2 * 2*2*2 = 16 bytes
    assert _conv_call(out_hw=(3, 3)) == lib.MCUQ_ARG_ERROR  # output dims do not match the window
    assert _conv_call(groups=3) == lib.MCUQ_ARG_ERROR  # channels not divisible by groups
    assert _conv_call(pixel_stride=6) == lib.MCUQ_OK  # a channel slice of a 6-channel tensor
    assert _conv_call(pixel_stride=3) == lib.MCUQ_ARG_ERROR  # output pixels would overlap


def test_kernels_reject_bad_arguments():
    ffi, lib = load()
    x = np.zeros(8, np.int8)
    sm = ffi.new(
        "mcuq_softmax_params *", {"input_multiplier": 1 << 30, "input_left_shift": 23, "diff_min": -248}
    )
    assert lib.mcuq_softmax_s8(sm, _i8(ffi, x), 1, 8, _i8(ffi, x)) == lib.MCUQ_OK
    assert lib.mcuq_softmax_s8(sm, _i8(ffi, x), 1, 4096, _i8(ffi, x)) == lib.MCUQ_ARG_ERROR
    sm.diff_min = -256  # -256 * 2^23 would overflow int32
    assert lib.mcuq_softmax_s8(sm, _i8(ffi, x), 1, 8, _i8(ffi, x)) == lib.MCUQ_ARG_ERROR
    pool = ffi.new(
        "mcuq_pool_params *",
        {
            "kernel": {"h": 2, "w": 2},
            "stride": {"h": 1, "w": 1},
            "padding": {"top": 2},
            "activation": {"min": -128, "max": 127},
            "output_pixel_stride": 2,
        },
    )
    # The first output row's window lies entirely in the top padding.
    status = lib.mcuq_avg_pool_s8(
        pool, _dims(ffi, (1, 2, 2, 2)), _i8(ffi, x), _dims(ffi, (1, 3, 1, 2)), _i8(ffi, np.zeros(6, np.int8))
    )
    assert status == lib.MCUQ_ARG_ERROR
    pool.padding.top = 0
    args = (_dims(ffi, (1, 2, 2, 2)), _i8(ffi, x), _dims(ffi, (1, 1, 1, 2)), _i8(ffi, np.zeros(6, np.int8)))
    assert lib.mcuq_max_pool_s8(pool, *args) == lib.MCUQ_OK
    pool.output_pixel_stride = 1  # narrower than the output's 2 channels
    assert lib.mcuq_max_pool_s8(pool, *args) == lib.MCUQ_ARG_ERROR
    table = np.zeros(256, np.int8)
    rows = ffi.new("mcuq_elementwise_dims *", {"rows": 2, "row_size": 4, "output_row_stride": 4})
    assert lib.mcuq_lut_s8(_i8(ffi, table), rows, _i8(ffi, x), _i8(ffi, x)) == lib.MCUQ_OK
    assert lib.mcuq_lut_s8(ffi.NULL, rows, _i8(ffi, x), _i8(ffi, x)) == lib.MCUQ_ARG_ERROR
    rows.output_row_stride = 3  # rows would overlap
    assert lib.mcuq_lut_s8(_i8(ffi, table), rows, _i8(ffi, x), _i8(ffi, x)) == lib.MCUQ_ARG_ERROR


# --------------------------------------------------------------------------------------------------
# fixedpoint: Prepare math and the integer primitives
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "expected"),
    [
        (0.0, (0, 0)),
        (1.0, (1 << 30, 1)),
        (0.5, (1 << 30, 0)),
        (0.75, (1610612736, 0)),
        (3.0, (1610612736, 2)),
        (0.3, (1288490189, -1)),  # 0.6 * 2^31 = 1288490188.8
        (-0.5, (-(1 << 30), 0)),
        (2.0**-32, (1 << 30, -31)),  # smallest shift kept
        (2.0**-33, (0, 0)),  # shift -32: flushed to zero
        (1e-10, (0, 0)),
        (1.0 - 2.0**-33, (1 << 30, 1)),  # q rounds up to 2^31: halved, shift + 1
        (0.5 + 2.0**-32, ((1 << 30) + 1, 0)),  # q * 2^31 = 2^30 + 0.5: half away from zero, not to even
        (2.0**31, ((1 << 31) - 1, 30)),  # shift 32 saturates
    ],
)
def test_quantize_multiplier_known_values(real, expected):
    assert fp.quantize_multiplier(real) == expected


@cfg(300)
@given(st.floats(2.0**-30, 2.0**29))
def test_quantize_multiplier_is_the_nearest_q31(real):
    mult, shift = fp.quantize_multiplier(real)
    assert 1 << 30 <= mult < 1 << 31
    # Exact rational check: |mult * 2^(shift-31) - real| <= half an LSB of the mantissa.
    err = abs(Fraction(mult) * Fraction(2) ** (shift - 31) - Fraction(real))
    assert err <= Fraction(2) ** (shift - 32)


def test_quantize_multipliers_vectorized():
    reals = np.array([0.0, 0.3, 1.0, 3.0])
    mult, shift = fp.quantize_multipliers(reals)
    assert mult.dtype == np.int32 and shift.dtype == np.int32
    assert list(zip(mult.tolist(), shift.tolist())) == [fp.quantize_multiplier(r) for r in reals]


def test_prepare_add_hand_checked():
    p = fp.prepare_add(1 / 128, 3, 1 / 128, -5, 1 / 128, 7, -128, 127)
    # twice_max = 1/64: inputs rescale by 1/2 = (2^30, 0); output 2^-19 = 0.5 * 2^-18 = (2^30, -18).
    assert (p.input1_multiplier, p.input1_shift) == (1 << 30, 0)
    assert (p.input2_multiplier, p.input2_shift) == (1 << 30, 0)
    assert (p.output_multiplier, p.output_shift) == (1 << 30, -18)
    assert (p.input1_offset, p.input2_offset, p.output_offset, p.left_shift) == (-3, 5, 7, 20)
    with pytest.raises(ValueError):
        fp.prepare_add(1.0, 0, 1.0, 0, 1e-7, 0, -128, 127)  # output multiplier would be >= 1


def test_prepare_softmax_hand_checked():
    # scale 1/16: 2^-4 * 2^26 = 2^22 = 0.5 * 2^23 -> (2^30, 23); radius floor(31 * 2^26 / 2^23) = 248.
    assert fp.prepare_softmax(1 / 16) == qir.SoftmaxParams(1 << 30, 23, -248)
    # Scales are float32 as in TFLite: 0.1f = 0.100000001490116..., so q = 0.8000000119 -> 1717986944.
    assert fp.prepare_softmax(0.1) == qir.SoftmaxParams(1717986944, 23, -248)


def test_prepare_mul_hand_checked():
    p = fp.prepare_mul(0.5, 1, 0.25, -2, 0.0625, 3, -128, 127)
    assert (p.output_multiplier, p.output_shift) == (1 << 30, 2)  # 2.0 = 0.5 * 2^2
    assert (p.input1_offset, p.input2_offset, p.output_offset) == (-1, 2, 3)


int32s = st.integers(fp.INT32_MIN, fp.INT32_MAX)


def _round_half_away(fr: Fraction) -> int:
    n = math.floor(abs(fr) + Fraction(1, 2))
    return n if fr >= 0 else -n


@cfg(300)
@given(int32s, st.integers(0, 31))
def test_rounding_divide_by_pot_is_half_away_from_zero(x, e):
    assert int(fp.rounding_divide_by_pot(x, e)) == _round_half_away(Fraction(x, 2**e))


@cfg(300)
@given(int32s, st.integers(1, fp.INT32_MAX))
def test_doubling_high_mults_round_half_up(a, b):
    exact = Fraction(a * b, 2**31)
    assert int(fp.doubling_high_mult_no_sat(a, b)) == math.floor(exact + Fraction(1, 2))
    # The saturating one (VQRDMULH) agrees except at a == b == INT32_MIN.
    assert int(fp.saturating_rounding_doubling_high_mul(a, b)) == math.floor(exact + Fraction(1, 2))


def test_saturating_doubling_high_mul_saturates():
    assert int(fp.saturating_rounding_doubling_high_mul(fp.INT32_MIN, fp.INT32_MIN)) == fp.INT32_MAX


@cfg(300)
@given(st.integers(-(2**20), 2**20), st.floats(2.0**-20, 8.0))
def test_requantize_is_close_to_the_real_product(val, real):
    mult, shift = fp.quantize_multiplier(real)
    got = int(fp.requantize(val, mult, shift))
    exact = Fraction(val) * mult * Fraction(2) ** (shift - 31)
    # Double rounding: at most one LSB from the exact value, and exact when no right shift rounds.
    assert abs(got - exact) <= 1


def test_requantize_left_shift_wraps_like_int32():
    # (2^30) << 2 wraps to 0 in int32 arithmetic, as in the C code.
    assert int(fp.requantize(1 << 30, 1 << 30, 2)) == 0


def test_exp_and_reciprocal_are_accurate():
    x = -np.arange(0, 31 * 2**26, 2**20, dtype=np.int64)  # Q5.26 in [-31, 0]
    got = fp.exp_on_negative_values(x) / 2.0**31
    # gemmlowp's 4th-order polynomial on [-1/4, 0): error about (1/8)^5 / 120 = 2.5e-7.
    assert np.max(np.abs(got - np.exp(x / 2.0**26))) < 5e-7
    v = np.arange(0, 2**31, 2**24, dtype=np.int64)
    inv = fp.one_over_one_plus_x_for_x_in_0_1(v) / 2.0**31
    assert np.max(np.abs(inv - 1 / (1 + v / 2.0**31))) < 1e-8


# --------------------------------------------------------------------------------------------------
# the C helpers of mcuq_nn_support.h equal mcuq.numerics.fixedpoint
# --------------------------------------------------------------------------------------------------


def _edge_int32s(rng, n):
    """int32 values rich in edge cases: extremes, powers of two and their neighbours, small ints."""
    pot = 2 ** rng.integers(0, 31, size=n)
    choices = np.stack(
        [
            rng.integers(fp.INT32_MIN, fp.INT32_MAX, size=n, endpoint=True),
            rng.integers(-300, 300, size=n),
            pot,
            -pot,
            pot - 1,
            1 - pot,
            pot + 1,
            np.full(n, fp.INT32_MIN),
            np.full(n, fp.INT32_MAX),
        ]
    )
    return np.clip(choices[rng.integers(0, len(choices), size=n), np.arange(n)], fp.INT32_MIN, fp.INT32_MAX)


@cfg(20)
@given(seeds)
def test_c_support_equals_fixedpoint(seed):
    rng = np.random.default_rng(seed)
    n = 4000
    a, b = _edge_int32s(rng, n), _edge_int32s(rng, n)
    e = rng.integers(0, 32, size=n)
    # Exact halves for the rounding divide: x = k * 2^e + 2^(e-1).
    half = np.clip((rng.integers(-(2**20), 2**20, size=n) << e) + ((1 << e) >> 1), fp.INT32_MIN, fp.INT32_MAX)
    x = np.where(rng.random(n) < 0.5, a, half)
    assert np.array_equal(support("rounding_divide_by_pot", x, e), fp.rounding_divide_by_pot(x, e))
    assert np.array_equal(support("doubling_high_mult_no_sat", a, b), fp.doubling_high_mult_no_sat(a, b))
    assert np.array_equal(
        support("sat_doubling_high_mult", a, b), fp.saturating_rounding_doubling_high_mul(a, b)
    )
    # Requantize: Q31 multipliers in [2^30, 2^31) and shifts as QuantizeMultiplier makes them.
    mult = rng.integers(1 << 30, 1 << 31, size=n)
    shift = rng.integers(-31, 31, size=n)
    assert np.array_equal(support("requantize", a, mult, shift), fp.requantize(a, mult, shift))
    # The one-step requantization of the fast kernels, also with multipliers 0 and 2^31 - 1, and on
    # products that land exactly on the halfway points of either rounding.
    mult_any = np.where(rng.random(n) < 0.1, rng.choice([0, 1, 2**31 - 1], size=n), mult)
    assert np.array_equal(support("requantize_fast", a, mult_any, shift), fp.requantize(a, mult_any, shift))
    ties = np.clip((rng.integers(-(2**10), 2**10, size=n) << e) + ((1 << e) >> 1), fp.INT32_MIN, fp.INT32_MAX)
    pot_mult = np.full(n, 1 << 30)  # val * 2^30 / 2^31 = val / 2: every odd val is a tie of the first rounding
    right = -rng.integers(1, 32, size=n)
    for vals in (ties, ties + 1, ties - 1, a):
        assert np.array_equal(support("requantize_fast", vals, pot_mult, right), fp.requantize(vals, pot_mult, right))
        assert np.array_equal(support("requantize_fast", vals, mult, right), fp.requantize(vals, mult, right))
    for k in (1, 2):
        assert np.array_equal(support("sat_mult_by_pot", a, np.full(n, k)), fp.mult_by_power_of_two(a, k))
    neg = -np.abs(rng.integers(0, 2**31, size=n))
    assert np.array_equal(support("exp_on_negative_values", neg), fp.exp_on_negative_values(neg))
    unit = rng.integers(0, 2**31, size=n)
    assert np.array_equal(
        support("one_over_one_plus_x_for_x_in_0_1", unit), fp.one_over_one_plus_x_for_x_in_0_1(unit)
    )
    nonneg = np.abs(rng.integers(-fp.INT32_MAX, fp.INT32_MAX, size=n)) >> rng.integers(0, 31, size=n)
    assert np.array_equal(support("clz_u32", nonneg), fp.count_leading_zeros32(nonneg))
