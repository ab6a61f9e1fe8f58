"""Requantization, the arithmetic every kernel family shares: the Prepare math of
mcuq.numerics.fixedpoint (QuantizeMultiplier, Add, Mul and Softmax parameters) equals TFLite's on
hand-checked values, its integer primitives round as gemmlowp's do, and the C helpers of
mcuq_nn_support.h equal them element for element on edge values.

Like the other kernel files, every test runs once per host kernel path (portable, DSP), the pure
Python ones included."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq.numerics import fixedpoint as fp
from tests.helpers.c_kernels import support
from tests.helpers.kernel_layers import cfg, seeds

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")


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
    assert fp.prepare_softmax(1 / 16) == fp.softmax_params(1 << 30, 23, -248)
    # Scales are float32 as in TFLite: 0.1f = 0.100000001490116..., so q = 0.8000000119 -> 1717986944.
    assert fp.prepare_softmax(0.1) == fp.softmax_params(1717986944, 23, -248)


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
