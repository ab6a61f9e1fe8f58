"""The int8 convolution kernel (runtime_c/src/convolution, mcuq_convolve_s8) equals the golden model bit
for bit: on random layers (hypothesis: shapes, strides, dilations, padding, groups, zero points,
clamps) and on the shapes its fast paths specialize; in place at the shifts the planner allows; with
the scratch the golden model predicts (for depthwise too); and it refuses inconsistent arguments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.plan import inplace
from mcuq.qir import kernels
from mcuq.qir.model import QOp
from tests.helpers.c_kernels import load
from tests.helpers.kernel_harness import c_dims, check, i8_ptr, i32_ptr, run_c
from tests.helpers.kernel_layers import (
    act_ranges,
    cfg,
    channel_requant,
    make_layer,
    out_size,
    random_i8,
    seeds,
    windows,
    zero_points,
)

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")


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
    oh, ow = out_size(h, pad[0], pad[2], kh, sh, dh), out_size(w, pad[1], pad[3], kw, sw, dw)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    c_out = groups * og
    mult, shift = channel_requant(rng, c_out, kh * kw * cg)
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
    layer, tensors = make_layer(QOp.CONV, params, [(batch, h, w, groups * cg)], (batch, oh, ow, c_out))
    check(layer, [random_i8(rng, (batch, h, w, groups * cg))], tensors)


def _same_3x3(rng, h, w, c, op):
    """A 3x3 stride-1 "same" conv or depthwise conv with C channels in and out, and its input."""
    mult, shift = channel_requant(rng, c, 9 * (c if op is QOp.CONV else 1))
    common = dict(bias=rng.integers(-(2**14), 2**14, size=c).astype(np.int32), multiplier=mult, shift=shift,
                  input_offset=3, output_offset=-5, stride=(1, 1), dilation=(1, 1), padding=(1, 1, 1, 1),
                  act_min=-128, act_max=127)
    if op is QOp.CONV:
        params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c, 3, 3, c)).astype(np.int8), **common)
    else:
        params = qir.DepthwiseConvParams(weights=rng.integers(-127, 128, size=(1, 3, 3, c)).astype(np.int8),
                                         **common)
    layer, tensors = make_layer(op, params, [(1, h, w, c)], (1, h, w, c))
    return layer, tensors, random_i8(rng, (1, h, w, c))


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
    oh = out_size(h, pad[0], pad[2], kh, stride[0], dilation[0])
    ow = out_size(w, pad[1], pad[3], kw, stride[1], dilation[1])
    # The full int8 clamp and right shifts of 2 or more only (real models) have paths of their own.
    for act, left_shifts in (((-128, 127), False), ((-20, 90), True), ((-128, 127), True)):
        if left_shifts:
            mult, shift = channel_requant(rng, c_out, kh * kw * c_in)
        else:
            reals = 64.0 / (math.sqrt(kh * kw * c_in) * 4000.0) * 2.0 ** rng.uniform(-4, 4, size=c_out)
            mult, shift = fp.quantize_multipliers(reals)
            assert np.all(shift <= -2)
        params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, kh, kw, c_in)).astype(np.int8),
                                bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32), multiplier=mult,
                                shift=shift, input_offset=int(rng.integers(-127, 129)),
                                output_offset=int(rng.integers(-128, 128)), stride=stride, dilation=dilation,
                                padding=pad, act_min=act[0], act_max=act[1])
        layer, tensors = make_layer(QOp.CONV, params, [in_shape], (n, oh, ow, c_out))
        check(layer, [random_i8(rng, in_shape)], tensors)


def test_inplace_shifts_of_pointwise_and_strided_convs():
    rng = np.random.default_rng(3)

    def conv(in_shape, c_out, k, stride, pad):
        c_in = in_shape[3]
        mult, shift = channel_requant(rng, c_out, k * k * c_in)
        params = qir.ConvParams(weights=rng.integers(-127, 128, size=(c_out, k, k, c_in)).astype(np.int8),
                                bias=np.zeros(c_out, np.int32), multiplier=mult, shift=shift, input_offset=0,
                                output_offset=0, stride=(stride, stride), dilation=(1, 1), padding=pad,
                                act_min=-128, act_max=127)
        n, h, w, _ = in_shape
        oh, ow = out_size(h, pad[0], pad[2], k, stride, 1), out_size(w, pad[1], pad[3], k, stride, 1)
        return make_layer(QOp.CONV, params, [in_shape], (n, oh, ow, c_out))

    # A 1x1 conv copies its pixel into scratch before writing it: fully in place.
    assert inplace.max_shift(*conv((1, 5, 5, 16), 16, 1, 1, (0, 0, 0, 0))) == 0
    # ResNet-8's stride-2 shortcut, 16 -> 32 channels, half the bytes: inside its input.
    layer, tensors = conv((1, 32, 32, 16), 32, 1, 2, (0, 0, 0, 0))
    assert inplace.max_shift(layer, tensors) == 0
    assert inplace.inplace_shift(layer, tensors, 0, 4) == 0
    check(layer, [random_i8(rng, (1, 32, 32, 16))], tensors)
    # Twice the channels at stride 1: the output must start far enough before the input.
    layer, tensors = conv((1, 4, 4, 2), 4, 1, 1, (0, 0, 0, 0))
    # Pixel 14 ends at byte 15*4 + d and pixel 15 reads from byte 15*2: d <= -30.
    assert inplace.max_shift(layer, tensors) == -30
    assert inplace.inplace_shift(layer, tensors, 0, 4) == -32  # rounded down to the alignment
    check(layer, [random_i8(rng, (1, 4, 4, 2))], tensors)


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
    layer, tensors = make_layer(QOp.CONV, params, [in_shape], (1, 3, 3, groups * og))
    want = lib.mcuq_convolve_s8_get_buffer_size(c_dims(ffi, in_shape), c_dims(ffi, params.weights.shape))
    assert kernels.scratch_bytes(layer, tensors) == want == 2 * kh * kw * cg
    roomy = lib.mcuq_convolve_s8_get_roomy_buffer_size(c_dims(ffi, in_shape), c_dims(ffi, params.weights.shape))
    if groups == 1:  # the C function gives the least where no faster path applies; golden gives 0
        assert max(kernels.roomy_scratch_bytes(layer, tensors), kernels.scratch_bytes(layer, tensors)) == roomy
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
    dw_layer, dw_tensors = make_layer(QOp.DEPTHWISE_CONV, dw, [(1, kh, kw, cg)], (1, 1, 1, cg))
    c_dw = lib.mcuq_depthwise_conv_s8_get_buffer_size(
        c_dims(ffi, (1, kh, kw, cg)), c_dims(ffi, (1, kh, kw, cg))
    )
    assert kernels.scratch_bytes(dw_layer, dw_tensors) == c_dw
    c_dw_roomy = lib.mcuq_depthwise_conv_s8_get_roomy_buffer_size(
        c_dims(ffi, (1, kh, kw, cg)), c_dims(ffi, (1, kh, kw, cg))
    )
    assert max(kernels.roomy_scratch_bytes(dw_layer, dw_tensors), c_dw) == c_dw_roomy


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
    quant = ffi.new("mcuq_per_channel_quant *", {"multiplier": i32_ptr(ffi, mult), "shift": i32_ptr(ffi, shift)})
    need = lib.mcuq_convolve_s8_get_buffer_size(c_dims(ffi, (1, 3, 3, 2)), c_dims(ffi, w.shape))
    size = need if ctx_size is None else ctx_size
    scratch = ffi.new("int16_t[]", max(size, 2))
    ctx = ffi.new("mcuq_context *", {"buf": scratch, "size": size})
    x = np.zeros((1, 3, 3, 2), np.int8)
    out = np.zeros((1, *out_hw, max(4, pixel_stride)), np.int8)
    return lib.mcuq_convolve_s8(
        ctx,
        params,
        quant,
        c_dims(ffi, x.shape),
        i8_ptr(ffi, x),
        c_dims(ffi, w.shape),
        i8_ptr(ffi, w),
        i32_ptr(ffi, bias),
        c_dims(ffi, (1, *out_hw, 4)),
        i8_ptr(ffi, out),
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
