"""The int8 elementwise kernels (runtime_c/src/basic_math: mcuq_elementwise_add_s8, _mul_s8) equal the
golden model bit for bit: with Prepare's parameters (and within one LSB of the float result), with
raw parameters beyond them, and on all 65,536 input pairs; in place over either input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import act_ranges, cfg, make_layer, pixel_rows, random_i8, seeds, zero_points

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")


scales = st.floats(1e-3, 1.0)


@cfg(100)
@given(pixel_rows, scales, zero_points, scales, zero_points, scales, zero_points, act_ranges(), seeds)
def test_add(shape, s1, z1, s2, z2, so, zo, act, seed):
    rng = np.random.default_rng(seed)
    params = fp.prepare_add(s1, z1, s2, z2, so, zo, *act)
    layer, tensors = make_layer(QOp.ADD, params, [shape, shape], shape)
    a, b = random_i8(rng, shape), random_i8(rng, shape)
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
    layer, tensors = make_layer(QOp.ADD, params, [shape, shape], shape)
    rng = np.random.default_rng(seed)
    check(layer, [random_i8(rng, shape), random_i8(rng, shape)], tensors)


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
    layer, tensors = make_layer(QOp.ADD, params, [a.shape, a.shape], a.shape)
    check(layer, [a, b], tensors)


@cfg(100)
@given(pixel_rows, scales, zero_points, scales, zero_points, st.floats(1e-4, 1.0), zero_points, act_ranges(), seeds)
def test_mul(shape, s1, z1, s2, z2, so, zo, act, seed):
    rng = np.random.default_rng(seed)
    params = fp.prepare_mul(s1, z1, s2, z2, so, zo, *act)
    layer, tensors = make_layer(QOp.MUL, params, [shape, shape], shape)
    a, b = random_i8(rng, shape), random_i8(rng, shape)
    got = check(layer, [a, b], tensors).astype(np.int64)
    a, b = a.astype(np.int64), b.astype(np.int64)
    exact = (s1 * (a - z1)) * (s2 * (b - z2)) / so + zo
    assert np.all(np.abs(got - np.clip(np.round(exact), *act)) <= 1)
