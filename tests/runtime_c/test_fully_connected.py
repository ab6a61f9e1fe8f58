"""The int8 fully connected kernel (runtime_c/src/fully_connected, mcuq_fully_connected_s8) equals the
golden model bit for bit on random layers, and the planner runs no layer in place where that saves
nothing."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.plan import inplace
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import act_ranges, cfg, channel_requant, make_layer, random_i8, seeds, zero_points

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")


@cfg(100)
@given(
    st.integers(1, 3), st.integers(1, 64), st.integers(1, 16), zero_points, zero_points, act_ranges(), seeds
)
def test_fully_connected(batch, k, o, zp_in, zp_out, act, seed):
    rng = np.random.default_rng(seed)
    mult, shift = channel_requant(rng, o, k)
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
    layer, tensors = make_layer(QOp.FULLY_CONNECTED, params, [(batch, k)], (batch, o))
    check(layer, [random_i8(rng, (batch, k))], tensors)


def test_no_inplace_where_it_saves_nothing():
    rng = np.random.default_rng(5)
    params = qir.FullyConnectedParams(weights=random_i8(rng, (4, 8)), bias=np.zeros(4, np.int32),
                                      multiplier=np.full(4, 1 << 30, np.int32), shift=np.zeros(4, np.int32),
                                      input_offset=0, output_offset=0, act_min=-128, act_max=127)
    layer, tensors = make_layer(QOp.FULLY_CONNECTED, params, [(1, 8)], (1, 4))
    assert inplace.max_shift(layer, tensors) is None
    lut, lut_tensors = make_layer(QOp.LUT, qir.LutParams(table=random_i8(rng, 256)), [(1, 9)], (1, 9))
    assert inplace.inplace_shift(lut, lut_tensors, 0, 4) == 0
    assert inplace.inplace_shift(lut, lut_tensors, 1, 4) is None  # a LUT has one input
