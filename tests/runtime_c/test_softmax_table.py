"""The int8 softmax reads exp(x - max) from a 256-entry table computed at compile time
(numerics.fixedpoint.softmax_exp_table) instead of evaluating arm_softmax_s8's fixed-point exp per
element: the table equals that per-element formula for every difference, the golden model built on the
table equals arm_softmax_s8 computed element by element, and the C kernel's MVE, DSP and no-DSP paths
(on emulated Cortex-M55, M4 and M3) equal the golden model on rows of every tail length, attention
rows, in place, and rows whose exp sum passes 2^28."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.golden import s8
from mcuq.numerics import fixedpoint as fp
from mcuq.plan import inplace
from mcuq.qir.model import QOp
from tests.helpers.kernel_layers import cfg, make_layer, seeds
from tests.helpers.kernel_qemu import layer_case
from tests.runtime_c.test_kernels_qemu import CORES, _assert_all_pass
from tests.runtime_c.test_kernels_qemu import pytestmark as needs_qemu_tools

INT32_MAX = (1 << 31) - 1


def _exp_of_diff(diff: int, mult: int, left_shift: int) -> int:
    """arm_softmax_s8's exp for one difference to the row maximum (valid: diff >= diff_min), in Q0.31."""
    scaled = fp.saturating_rounding_doubling_high_mul(np.int64(diff) << left_shift, mult)
    return int(fp.exp_on_negative_values(scaled))


def _arm_softmax_s8_per_element(x: np.ndarray, mult: int, left_shift: int, diff_min: int) -> np.ndarray:
    """arm_softmax_s8 as CMSIS-NN writes it: the exp evaluated for each element, twice."""
    out = np.empty_like(x, dtype=np.int8)
    for r, row in enumerate(x.astype(np.int64)):
        top = int(row.max())
        total = sum(int(fp.rounding_divide_by_pot(_exp_of_diff(v - top, mult, left_shift), fp.SOFTMAX_ACCUM_BITS))
                    for v in row if v - top >= diff_min)
        headroom = int(fp.count_leading_zeros32(total))
        scale = fp.one_over_one_plus_x_for_x_in_0_1((total << headroom) - (1 << 31))
        bits_over_unit = fp.SOFTMAX_ACCUM_BITS - headroom + 23
        for c, v in enumerate(row):
            if v - top < diff_min:
                out[r, c] = -128
                continue
            prob = fp.saturating_rounding_doubling_high_mul(scale, _exp_of_diff(v - top, mult, left_shift))
            res = int(fp.rounding_divide_by_pot(prob, bits_over_unit)) - 128
            out[r, c] = min(max(res, -128), 127)
    return out


def _raw_params(mult: int, left_shift: int) -> tuple[int, int, int]:
    return mult, left_shift, -((31 << 26) >> left_shift)  # diff_min from CalculateInputRadius


@cfg(60)
@given(st.integers(1 << 30, INT32_MAX), st.integers(0, 30))
def test_exp_table_equals_the_per_element_formula_for_every_difference(mult, left_shift):
    mult, left_shift, diff_min = _raw_params(mult, left_shift)
    table = fp.softmax_exp_table(mult, left_shift, diff_min)
    assert table.dtype == np.int32 and table.shape == (256,)
    want = [_exp_of_diff(-k, mult, left_shift) if -k >= diff_min else 0 for k in range(256)]
    assert table.tolist() == want
    assert table[0] == INT32_MAX  # exp(0) = 1 - 2^-31 in Q0.31


@cfg(40)
@given(st.integers(1, 3), st.integers(1, 60), st.floats(1e-3, 0.6), st.integers(0, 255), seeds)
def test_table_golden_equals_arm_softmax_per_element(rows, row, scale, spread, seed):
    params = fp.prepare_softmax(scale)
    x = np.random.default_rng(seed).integers(127 - spread, 128, size=(rows, row))
    want = _arm_softmax_s8_per_element(x, params.input_multiplier, params.input_left_shift, params.diff_min)
    assert np.array_equal(s8.softmax_rows(x, params), want)


def test_table_golden_equals_arm_softmax_on_a_long_row_past_2_28():
    params = fp.prepare_softmax(0.05)
    x = np.random.default_rng(3).integers(0, 4, size=(1, 700))  # exp sum ~ 700 * 2^19 > 2^28
    want = _arm_softmax_s8_per_element(x, params.input_multiplier, params.input_left_shift, params.diff_min)
    assert np.array_equal(s8.softmax_rows(x, params), want)


def test_golden_rejects_a_table_of_the_wrong_size():
    params = fp.prepare_softmax(0.1)
    bad = qir.SoftmaxParams(params.input_multiplier, params.input_left_shift, params.diff_min,
                               exp_table=params.exp_table[:255])
    with pytest.raises(ValueError, match="exp table"):
        s8.softmax_rows(np.zeros((1, 4), np.int64), bad)


def test_exp_table_rejects_params_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        fp.softmax_exp_table(1 << 30, 23, -256)  # -256 * 2^23 does not fit int32


def _softmax_cases() -> list:
    rng = np.random.default_rng(11)
    cases = []
    shapes = [(2, n) for n in range(1, 34)] + [(8, 50), (3, 600)]  # every tail of 4 and 16; attention; long
    for shape in shapes:
        scale = float(10.0 ** rng.uniform(-3, -0.3))
        layer, tensors = make_layer(QOp.SOFTMAX, fp.prepare_softmax(scale), [shape], shape)
        spread = 4 if shape[1] == 600 else int(rng.integers(0, 256))
        x = [rng.integers(127 - spread, 128, size=shape).astype(np.int8)]
        label = f"softmax {shape} scale {scale:.4g}"
        cases.append(layer_case(label, layer, x, tensors))
        shift = inplace.max_shift(layer, tensors)
        if shift is not None:
            cases.append(layer_case(f"{label}, in place at {shift}", layer, x, tensors, inplace_shift=shift))
    return cases


@needs_qemu_tools
@pytest.mark.parametrize("core", list(CORES))
def test_softmax_paths_equal_golden_on_the_cores(core, tmp_path):
    _assert_all_pass(_softmax_cases(), core, tmp_path)
