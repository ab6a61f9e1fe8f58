"""The resize and transposed-convolution kernels (mcuq_resize_nearest_s8, mcuq_resize_bilinear_s8,
mcuq_transpose_conv_s8) equal the golden model bit for bit on random shapes, tables and geometries,
on each host path (portable and emulated DSP); nearest is a pure gather (checked against numpy
indexing), and the golden transposed convolution (computed from its definition) is checked against
a float ONNX-style scatter."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.codegen import views
from mcuq.ir import phases
from mcuq.qir import kernels
from mcuq.qir.model import QOp
from tests.helpers.c_kernels import load
from tests.helpers.kernel_harness import c_dims, check
from tests.helpers.kernel_layers import act_ranges, cfg, channel_requant, make_layer, random_i8, seeds, zero_points

pytestmark = pytest.mark.usefixtures("kernel_variant")


@st.composite
def resize_geometries(draw):
    n, h, w, c = draw(st.integers(1, 2)), draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    oh, ow = draw(st.integers(1, 13)), draw(st.integers(1, 13))
    return (n, h, w, c), (n, oh, ow, c)


@cfg(120)
@given(resize_geometries(), st.data(), seeds)
def test_resize_nearest(shapes, data, seed):
    in_shape, out_shape = shapes
    # Sorted sources, as every coordinate transform gives, plus runs of repeats (the block-copy paths).
    rows = tuple(sorted(data.draw(st.lists(st.integers(0, in_shape[1] - 1), min_size=out_shape[1],
                                           max_size=out_shape[1]))))
    cols = tuple(data.draw(st.lists(st.integers(0, in_shape[2] - 1), min_size=out_shape[2], max_size=out_shape[2])))
    layer, tensors = make_layer(QOp.RESIZE_NEAREST, qir.ResizeParams(rows, cols), [in_shape], out_shape)
    x = random_i8(np.random.default_rng(seed), in_shape)
    got = check(layer, [x], tensors)
    assert np.array_equal(got, x[:, list(rows)][:, :, list(cols)])


def bilinear_table(draw, n_in, n_out):
    table = []
    for _ in range(n_out):
        lo = draw(st.integers(0, n_in - 1))
        hi = min(lo + draw(st.integers(0, 1)), n_in - 1)
        table += [lo, hi, draw(st.sampled_from([0, 1, 256, 512, 768, 1023, 1024]) | st.integers(0, 1024))]
    return tuple(table)


@cfg(120)
@given(resize_geometries(), st.data(), seeds)
def test_resize_bilinear(shapes, data, seed):
    in_shape, out_shape = shapes
    params = qir.ResizeParams(bilinear_table(data.draw, in_shape[1], out_shape[1]),
                              bilinear_table(data.draw, in_shape[2], out_shape[2]))
    layer, tensors = make_layer(QOp.RESIZE_BILINEAR, params, [in_shape], out_shape)
    x = random_i8(np.random.default_rng(seed), in_shape)
    got = check(layer, [x], tensors).astype(np.float64)
    rows, cols = np.reshape(params.rows, (-1, 3)), np.reshape(params.cols, (-1, 3))
    fy, fx = rows[:, 2][None, :, None, None] / 1024, cols[:, 2][None, None, :, None] / 1024
    xf = x.astype(np.float64)
    blend = ((xf[:, rows[:, 0]][:, :, cols[:, 0]] * (1 - fx) + xf[:, rows[:, 0]][:, :, cols[:, 1]] * fx) * (1 - fy)
             + (xf[:, rows[:, 1]][:, :, cols[:, 0]] * (1 - fx) + xf[:, rows[:, 1]][:, :, cols[:, 1]] * fx) * fy)
    assert np.abs(got - blend).max() <= 0.5  # the exact blend, rounded to nearest


def test_resize_bilinear_rounds_half_away_from_zero():
    """Two pixels blended half and half: -3 and 2 give -0.5 -> -1; 3 and -2 give 0.5 -> 1."""
    params = qir.ResizeParams((0, 0, 0), (0, 1, 512))
    layer, tensors = make_layer(QOp.RESIZE_BILINEAR, params, [(1, 1, 2, 2)], (1, 1, 1, 2))
    got = check(layer, [np.array([[[[-3, 3], [2, -2]]]], np.int8)], tensors)
    assert got.reshape(-1).tolist() == [-1, 1]


@st.composite
def transpose_conv_layers(draw):
    k = draw(st.integers(1, 5))
    s = draw(st.integers(1, min(k, 3)))
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    top, left = draw(st.integers(0, k - 1)), draw(st.integers(0, k - 1))
    full_h, full_w = (h - 1) * s + k, (w - 1) * s + k
    oh = draw(st.integers(max(1, full_h - top - (k - 1)), full_h - top + s - 1))  # end pads and output_padding
    ow = draw(st.integers(max(1, full_w - left - (k - 1)), full_w - left + s - 1))
    assume(phases.unsupported_geometry((h, w), (oh, ow), (k, k), (s, s), (top, left)) is None)
    c_in, c_out, n = draw(st.integers(1, 6)), draw(st.integers(1, 5)), draw(st.integers(1, 2))
    return (n, h, w, c_in), (n, oh, ow, c_out), k, s, (top, left)


def transpose_conv_layer(rng, geometry, zp_in, zp_out, act):
    in_shape, out_shape, k, s, pads = geometry
    c_in, c_out = in_shape[3], out_shape[3]
    mult, shift = channel_requant(rng, c_out, max(1, (k // s) ** 2) * c_in)
    params = qir.TransposeConvParams(
        weights=rng.integers(-127, 128, size=(c_out, k, k, c_in)).astype(np.int8),
        bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32), multiplier=mult, shift=shift,
        input_offset=-zp_in, output_offset=zp_out, stride=(s, s), padding=pads, act_min=act[0], act_max=act[1])
    return make_layer(QOp.TRANSPOSE_CONV, params, [in_shape], out_shape)


@cfg(200)
@given(transpose_conv_layers(), zero_points, zero_points, act_ranges(), seeds)
def test_transpose_conv(geometry, zp_in, zp_out, act, seed):
    rng = np.random.default_rng(seed)
    layer, tensors = transpose_conv_layer(rng, geometry, zp_in, zp_out, act)
    check(layer, [random_i8(rng, geometry[0])], tensors)


def test_golden_transpose_conv_accumulator_is_the_onnx_scatter():
    """The golden accumulator against a plain loop over input pixels and taps (the ONNX definition)."""
    from mcuq.golden.s8 import transpose_conv_accumulator
    rng = np.random.default_rng(5)
    geometry = ((1, 3, 4, 2), (1, 6, 8, 3), 3, 2, (1, 1))  # k3 s2 p1 output_padding 1
    layer, tensors = transpose_conv_layer(rng, geometry, 7, 0, (-128, 127))
    x = random_i8(rng, geometry[0])
    p = layer.params
    want = np.zeros((6, 8, 3), np.int64) + p.bias
    for i in range(3):
        for j in range(4):
            for kh in range(3):
                for kw in range(3):
                    oy, ox = i * 2 + kh - 1, j * 2 + kw - 1
                    if 0 <= oy < 6 and 0 <= ox < 8:
                        want[oy, ox] += p.weights[:, kh, kw, :].astype(np.int64) @ (x[0, i, j].astype(np.int64) - 7)
    assert np.array_equal(transpose_conv_accumulator(layer, [x], tensors)[0], want)


@cfg(40)
@given(transpose_conv_layers())
def test_transpose_conv_scratch_equals_c_get_buffer_size(geometry):
    """The Python mirror against the C functions, with the filter dims the view gives (the largest phase)."""
    ffi, lib = load()
    layer, tensors = transpose_conv_layer(np.random.default_rng(0), geometry, 0, 0, (-128, 127))
    view = views.op_view(layer, tensors, views.Placement((0,), 0))
    filter_dims = c_dims(ffi, next(s.value for s in view.structs if s.name == "filter_dims"))
    input_dims = c_dims(ffi, geometry[0])
    assert lib.mcuq_transpose_conv_s8_get_buffer_size(input_dims, filter_dims) == kernels.scratch_bytes(layer, tensors)
    roomy = lib.mcuq_transpose_conv_s8_get_roomy_buffer_size(input_dims, filter_dims)
    assert max(kernels.roomy_scratch_bytes(layer, tensors), kernels.scratch_bytes(layer, tensors)) == roomy


@pytest.mark.parametrize("geometry, group", [
    (((1, 3, 4, 5), (1, 6, 8, 3), 2, 2, (0, 0)), 2),  # k2 s2: both column phases read the same windows
    (((2, 2, 3, 4), (2, 6, 9, 4), 3, 3, (0, 0)), 3),
    (((1, 3, 4, 5), (1, 6, 9, 3), 2, 2, (0, 0)), 1),  # output_padding 1: phases of 5 and 4 pixels
    (((1, 3, 4, 5), (1, 6, 8, 3), 3, 2, (1, 1)), 1),  # k3 s2: 2 taps and 1 tap
])
def test_transpose_conv_stacks_column_phases_that_share_windows(geometry, group):
    from mcuq.codegen import views
    rng = np.random.default_rng(11)
    layer, tensors = transpose_conv_layer(rng, geometry, 5, -3, (-128, 127))
    view = views.op_view(layer, tensors, views.Placement((0,), 0))
    assert next(s.value for s in view.structs if s.name == "params")["col_group"] == group
    check(layer, [random_i8(rng, geometry[0])], tensors)
