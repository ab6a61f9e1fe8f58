"""The int8 softmax (runtime_c/src/softmax, mcuq_softmax_s8) and table lookup (runtime_c/src/activations,
mcuq_lut_s8) kernels equal the golden model bit for bit; the softmax is within 1/256 of the float one,
also on rows whose exp sum passes 2^28 and with raw parameters that hit rounding ties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import cfg, make_layer, pixel_rows, random_i8, seeds

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")


def _softmax_layer(shape, scale, beta=1.0):
    return make_layer(QOp.SOFTMAX, fp.prepare_softmax(scale, beta), [shape], shape)


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
    params = fp.softmax_params(mult, left_shift, -radius)
    layer, tensors = make_layer(QOp.SOFTMAX, params, [(rows, row)], (rows, row))
    check(layer, [random_i8(np.random.default_rng(seed), (rows, row))], tensors)


@cfg(30)
@given(pixel_rows, seeds)
def test_lut(shape, seed):
    rng = np.random.default_rng(seed)
    params = qir.LutParams(table=random_i8(rng, 256))
    layer, tensors = make_layer(QOp.LUT, params, [shape], shape)
    x = random_i8(rng, shape)
    assert np.array_equal(check(layer, [x], tensors), params.table[x.astype(np.int64) + 128])
