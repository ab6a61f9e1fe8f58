"""The golden model's fast paths equal their simple definitions bit for bit: requantize with per-channel
parameters kept per channel, and the conv and depthwise accumulators through strided windows and
exact float32/float64 BLAS (chunked) or int32 sums. The simple forms live here as the references."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.golden import s8
from mcuq.numerics import fixedpoint as fp
from tests.helpers.kernel_layers import cfg, make_layer, out_size, seeds

INT32 = st.integers(fp.INT32_MIN, fp.INT32_MAX)


def reference_requantize(val, multiplier, shift) -> np.ndarray:
    """``arm_nn_requantize`` step by step on full-size int64 arrays (the form before the fast path)."""
    val, multiplier, shift = np.broadcast_arrays(*(np.asarray(a, dtype=np.int64) for a in (val, multiplier, shift)))
    left, right = np.maximum(shift, 0), np.maximum(-shift, 0)
    shifted = (val << left).astype(np.int32).astype(np.int64)
    high = ((shifted * multiplier + (1 << 30)) >> 31).astype(np.int32).astype(np.int64)
    mask = (np.int64(1) << right) - 1
    result = high >> right
    return result + ((high & mask) > (mask >> 1) + (result < 0))


def _edgy(draw, values, edges, size):
    """``size`` values drawn from ``values``, some replaced by the edge values."""
    out = np.array(draw(st.lists(values, min_size=size, max_size=size)), dtype=np.int64)
    for i in draw(st.lists(st.integers(0, size - 1), max_size=3)):
        out[i] = draw(st.sampled_from(edges))
    return out


@cfg(400)
@given(st.data(), st.integers(1, 6), st.integers(1, 5), st.booleans(), st.integers(-40, 30), st.integers(-40, 30))
def test_requantize_equals_the_step_by_step_form(data, rows, channels, per_channel, shift_lo, shift_hi):
    draw = data.draw
    lo, hi = min(shift_lo, shift_hi), max(shift_lo, shift_hi)
    val = _edgy(draw, INT32, [fp.INT32_MIN, fp.INT32_MAX, 0, -1, 1], rows * channels).reshape(rows, channels)
    size = channels if per_channel else 1
    mult = _edgy(draw, INT32, [fp.INT32_MIN, fp.INT32_MAX, 1 << 30, 0, -fp.INT32_MAX], size)
    shift = _edgy(draw, st.integers(lo, hi), [lo, hi], size)
    if not per_channel:
        mult, shift = mult[0], shift[0]
    np.testing.assert_array_equal(fp.requantize(val, mult, shift), reference_requantize(val, mult, shift))


@cfg(200)
@given(st.integers(-(1 << 40), 1 << 40), st.integers(-(1 << 31), (1 << 31) - 1), st.integers(-40, 30))
def test_requantize_of_scalars_beyond_int32_wraps_as_the_reference(val, mult, shift):
    assert int(fp.requantize(val, mult, shift)) == int(reference_requantize(val, mult, shift))


def test_requantize_broadcasts_a_scalar_value_against_channel_parameters():
    mult, shift = np.array([1 << 30, fp.INT32_MAX, 1]), np.array([-3, 2, 0])
    np.testing.assert_array_equal(fp.requantize(12345, mult, shift), reference_requantize(12345, mult, shift))


def reference_windows(x, out_hw, kernel, stride, dilation, padding):
    """[N,OH,OW,KH,KW,C] by fancy indexing of the zero-padded input."""
    top, left, bottom, right = padding
    xp = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    rows = np.arange(out_hw[0])[:, None] * stride[0] + np.arange(kernel[0])[None, :] * dilation[0]
    cols = np.arange(out_hw[1])[:, None] * stride[1] + np.arange(kernel[1])[None, :] * dilation[1]
    return xp[:, rows[:, None, :, None], cols[None, :, None, :], :]


def reference_conv_accumulator(x, p: qir.ConvParams, out_hw) -> np.ndarray:
    """Grouped conv by its definition, int64 throughout."""
    w = np.asarray(p.weights, dtype=np.int64)
    c_out, kh, kw, cg = w.shape
    win = reference_windows(np.asarray(x, np.int64) + p.input_offset, out_hw, (kh, kw), p.stride, p.dilation,
                            p.padding)
    og = c_out // p.groups
    parts = [np.einsum("nhwijc,oijc->nhwo", win[..., g * cg : (g + 1) * cg], w[g * og : (g + 1) * og])
             for g in range(p.groups)]
    return np.concatenate(parts, axis=-1) + np.asarray(p.bias, dtype=np.int64)


def reference_depthwise_accumulator(x, p: qir.DepthwiseConvParams, out_hw) -> np.ndarray:
    w = np.asarray(p.weights, dtype=np.int64)
    x = np.repeat(np.asarray(x, np.int64), p.ch_mult, axis=-1) + p.input_offset
    win = reference_windows(x, out_hw, w.shape[1:3], p.stride, p.dilation, p.padding)
    return np.einsum("nhwijc,ijc->nhwc", win, w[0]) + np.asarray(p.bias, dtype=np.int64)


# Input magnitudes: int8 (float32 in one chunk or several), int16 (float64), and values whose products
# summed exceed 2**53 (int64).
MAGNITUDES = st.sampled_from([128, 32768, 1 << 40])


@st.composite
def windows(draw):
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = tuple(draw(st.integers(0, 2)) for _ in range(4))
    h = draw(st.integers(max(1, (kh - 1) * dilation[0] + 1 - padding[0] - padding[2]), 7))
    w = draw(st.integers(max(1, (kw - 1) * dilation[1] + 1 - padding[1] - padding[3]), 7))
    oh = out_size(h, padding[0], padding[2], kh, stride[0], dilation[0])
    ow = out_size(w, padding[1], padding[3], kw, stride[1], dilation[1])
    return (h, w), (oh, ow), (kh, kw), stride, dilation, padding


def _conv_data(rng, magnitude, shape, weight_shape, c_out, saturated):
    """Random data; ``saturated``: every input at -magnitude and every weight 127, so that partial sums
    grow with each product (random signs would keep them far from where a float type rounds)."""
    x = rng.integers(-magnitude, magnitude, size=shape, dtype=np.int64)
    x.reshape(-1)[: rng.integers(0, 3)] = -magnitude  # the extreme value now and then
    weights = rng.integers(-127, 128, size=weight_shape).astype(np.int8)
    weights.reshape(-1)[: rng.integers(0, 3)] = 127
    if saturated:
        x[...], weights[...] = -magnitude, 127
    bias = rng.integers(-(1 << 20), 1 << 20, size=c_out)
    return x.astype(np.int8) if magnitude == 128 else x, weights, bias


@cfg(150)
@given(windows(), st.integers(1, 3), st.sampled_from([1, 2, 7, 71]), st.integers(1, 3), st.integers(1, 2),
       st.integers(-128, 127), MAGNITUDES, st.booleans(), seeds)
def test_conv_accumulator_equals_the_int64_definition(window, groups, cg, og, batch, zp, magnitude, saturated, seed):
    (h, w), out_hw, kernel, stride, dilation, padding = window
    rng = np.random.default_rng(seed)
    c_out = groups * og
    x, weights, bias = _conv_data(rng, magnitude, (batch, h, w, groups * cg), (c_out, *kernel, cg), c_out, saturated)
    ones = np.ones(c_out, np.int32)
    p = qir.ConvParams(weights, bias, ones, ones, -zp, 0, stride, dilation, padding, -128, 127, groups)
    layer, tensors = make_layer(qir.QOp.CONV, p, [x.shape], (batch, *out_hw, c_out))
    np.testing.assert_array_equal(s8.conv_accumulator(layer, [x], tensors),
                                  reference_conv_accumulator(x, p, out_hw))


def test_conv_accumulator_is_exact_where_one_float32_sum_would_round():
    # 639 products of -255 * 127 sum to an odd number above 2**24, which float32 cannot hold.
    x = np.full((1, 3, 3, 71), -128, dtype=np.int8)
    weights = np.full((2, 3, 3, 71), 127, dtype=np.int8)
    ones = np.ones(2, np.int32)
    p = qir.ConvParams(weights, np.array([0, 1]), ones, ones, -127, 0, (1, 1), (1, 1), (0, 0, 0, 0), -128, 127)
    layer, tensors = make_layer(qir.QOp.CONV, p, [x.shape], (1, 1, 1, 2))
    np.testing.assert_array_equal(s8.conv_accumulator(layer, [x], tensors).reshape(-1),
                                  [-255 * 127 * 639, -255 * 127 * 639 + 1])


@cfg(150)
@given(windows(), st.integers(1, 9), st.integers(1, 3), st.integers(1, 2), st.integers(-128, 127), MAGNITUDES,
       st.booleans(), seeds)
def test_depthwise_accumulator_equals_the_int64_definition(window, c_in, ch_mult, batch, zp, magnitude, saturated,
                                                           seed):
    (h, w), out_hw, kernel, stride, dilation, padding = window
    rng = np.random.default_rng(seed)
    c_out = c_in * ch_mult
    x, weights, bias = _conv_data(rng, magnitude, (batch, h, w, c_in), (1, *kernel, c_out), c_out, saturated)
    ones = np.ones(c_out, np.int32)
    p = qir.DepthwiseConvParams(weights, bias, ones, ones, -zp, 0, stride, dilation, padding, -128, 127, ch_mult)
    layer, tensors = make_layer(qir.QOp.DEPTHWISE_CONV, p, [x.shape], (batch, *out_hw, c_out))
    np.testing.assert_array_equal(s8.depthwise_accumulator(layer, [x], tensors),
                                  reference_depthwise_accumulator(x, p, out_hw))


@cfg(100)
@given(st.integers(1, 4000), st.sampled_from([1, 127, 255, 32768, 1 << 31]), st.integers(1, 127))
def test_exact_plan_keeps_every_partial_sum_exact(inner, a_absmax, b_absmax):
    dtype, chunk = s8.exact_plan(a_absmax, b_absmax, inner)
    exact = {np.float32: s8.FLOAT32_EXACT, np.float64: s8.FLOAT64_EXACT}.get(dtype)
    if exact is not None:
        assert a_absmax * b_absmax * min(chunk, inner) < exact
        assert a_absmax * b_absmax * inner < s8.FLOAT64_EXACT  # the chunks' float64 sum
    assert chunk >= 1


def test_chunked_matmul_sums_chunks_that_float32_holds_but_not_their_total():
    # 2 * 255 * 127 * 300 > 2**24: one float32 product would round; chunks of 300 do not.
    a = np.full((2, 600), 255, dtype=np.float32)
    b = np.full((600, 3), 127, dtype=np.float32)
    dtype, chunk = s8.exact_plan(255, 127, 600)
    assert dtype is np.float32 and chunk < 600
    np.testing.assert_array_equal(s8.chunked_matmul(a, b, chunk), np.full((2, 3), 255 * 127 * 600))


def test_conv_input_beyond_float32_before_its_offset_stays_exact():
    # x + offset = 2**24 - 1 fits float32 exactly, x = 2**24 + 1 does not: the plan must see both.
    x = np.full((1, 1, 1, 1), (1 << 24) + 1, dtype=np.int64)
    ones = np.ones(1, np.int32)
    p = qir.ConvParams(np.ones((1, 1, 1, 1), np.int8), np.zeros(1), ones, ones, -2, 0, (1, 1), (1, 1), (0, 0, 0, 0),
                       -128, 127)
    layer, tensors = make_layer(qir.QOp.CONV, p, [x.shape], (1, 1, 1, 1))
    assert int(s8.conv_accumulator(layer, [x], tensors).reshape(-1)[0]) == (1 << 24) - 1
