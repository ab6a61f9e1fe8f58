"""The int8 Add's rescale table (numerics/fixedpoint.py add_rescale_table, read by
mcuq_elementwise_add_s8's table path): where it is emitted, and the table path's arithmetic, written
out in numpy, against the golden model on all 65,536 input pairs (the C itself is checked against the
golden model in test_elementwise.py and, on the cores, in test_kernels_qemu.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.golden import s8 as golden_s8
from mcuq.numerics import fixedpoint as fp
from tests.helpers.kernel_layers import act_ranges, cfg, zero_points

scales = st.floats(1e-3, 1.0)


def _table_path(x1, x2, table, p):
    """add8_table_elem and its clamp: s2 = 2 (a + b), v = (s2 * M + 2^31) >> 32, (v + K - [s2 < 0]) >> n."""
    n = -p.output_shift
    s2 = (x1 << p.left_shift) + table[x2.astype(np.uint8)]
    v = (s2 * p.output_multiplier + (1 << 31)) >> 32
    out = (v + (1 << (n - 1)) + (p.output_offset << n) + np.where(s2 < 0, -1, 0)) >> n
    return np.clip(out, p.act_min, p.act_max)


@cfg(60)
@given(scales, zero_points, scales, zero_points, scales, zero_points, act_ranges(), st.booleans())
def test_table_path_equals_golden_on_every_pair(s1, z1, s2, z2, so, zo, act, sub):
    params = (fp.prepare_sub if sub else fp.prepare_add)(s1, z1, s2, z2, so, zo, *act)
    table = fp.add_rescale_table(params)
    if table is None:
        # Only a Sub whose input 2 has the larger scale: its exact rescale is negated (-2^30), which
        # the table path does not take (the kernel's other paths do it).
        assert sub and params.input2_multiplier == -(1 << 30) and params.input1_multiplier != 1 << 30
        return
    assert table.shape == (256,) and table.dtype == np.int32
    x = np.arange(-128, 128, dtype=np.int64)
    a, b = np.meshgrid(x, x, indexing="ij")
    want = golden_s8.add_values(a, b, params, "add")
    # The table is over the input that is not exact; the kernel swaps the inputs when that is input 1.
    exact_first = params.input1_multiplier == 1 << 30 and params.input1_shift == 0
    got = _table_path(a, b, table.astype(np.int64), params) if exact_first else \
        _table_path(b, a, table.astype(np.int64), params)
    np.testing.assert_array_equal(got, want)


@cfg(60)
@given(
    st.integers(1, 20), st.integers(-255, 255), st.integers(-255, 255), st.integers(-(2**31) + 1, 2**31 - 1),
    st.integers(-25, 0), st.integers(0, 2**31 - 1), st.integers(1, 12), zero_points, act_ranges(),
)
def test_table_path_equals_golden_with_raw_params(left_shift, off1, off2, mult2, shift2, mult_o, n, zo, act):
    # Beyond Prepare: small output shifts (ties of the rounding divide, where its sign matters, are
    # frequent) and any input 2 multiplier, negative ones included.
    params = qir.AddParams(
        input1_offset=off1, input1_multiplier=1 << 30, input1_shift=0,
        input2_offset=off2, input2_multiplier=mult2, input2_shift=shift2,
        left_shift=left_shift, output_offset=zo, output_multiplier=mult_o, output_shift=-n,
        act_min=act[0], act_max=act[1],
    )
    x = np.arange(-128, 128, dtype=np.int64)
    a, b = np.meshgrid(x, x, indexing="ij")
    got = _table_path(a, b, fp.add_rescale_table(params).astype(np.int64), params)
    np.testing.assert_array_equal(got, golden_s8.add_values(a, b, params, "add"))


def test_no_table_where_the_kernel_takes_another_path():
    params = fp.prepare_add(0.037, -3, 0.021, 11, 0.05, 4, -128, 127)
    assert fp.add_rescale_table(params) is not None
    neither_exact = dataclasses.replace(params, input1_multiplier=(1 << 30) + 1)
    assert fp.add_rescale_table(neither_exact) is None
    assert fp.add_rescale_table(dataclasses.replace(params, left_shift=21)) is None
    assert fp.add_rescale_table(dataclasses.replace(params, left_shift=0)) is None
