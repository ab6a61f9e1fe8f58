"""The int8 pooling kernels (runtime_c/src/pooling: mcuq_max_pool_s8, mcuq_avg_pool_s8) equal the golden
model bit for bit on random windows, on the models' wide and global pools that fill the fast paths'
int16 lanes, and the average rounds half away from zero."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import (
    act_ranges,
    cfg,
    make_layer,
    out_size,
    pool_layers,
    random_i8,
    seeds,
    zero_points,
)

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")


@cfg(100)
@given(pool_layers(), seeds)
def test_max_pool(pool, seed):
    params, in_shape, out_shape = pool
    layer, tensors = make_layer(QOp.MAX_POOL, params, [in_shape], out_shape)
    check(layer, [random_i8(np.random.default_rng(seed), in_shape)], tensors)


@cfg(150)
@given(pool_layers(), seeds)
def test_avg_pool(pool, seed):
    params, in_shape, out_shape = pool
    layer, tensors = make_layer(QOp.AVG_POOL, params, [in_shape], out_shape)
    check(layer, [random_i8(np.random.default_rng(seed), in_shape)], tensors)


@st.composite
def wide_pool_layers(draw):
    """Pools as the models have them (many channels, big windows up to a global pool of more than
    256 taps, e.g. 25x5 over 25x5x64), for the multi-channel fast paths and their int16 lanes."""
    h, w = draw(st.integers(1, 20)), draw(st.integers(1, 20))
    kh, kw = (h, w) if draw(st.booleans()) else (draw(st.integers(1, h)), draw(st.integers(1, w)))
    pad = (draw(st.integers(0, kh - 1)), draw(st.integers(0, kw - 1)), draw(st.integers(0, kh - 1)),
           draw(st.integers(0, kw - 1)))
    stride = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    oh, ow = out_size(h, pad[0], pad[2], kh, stride[0], 1), out_size(w, pad[1], pad[3], kw, stride[1], 1)
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
    x = {"random": random_i8(rng, in_shape), "min": np.full(in_shape, -128, np.int8),
         "max": np.full(in_shape, 127, np.int8)}[fill]
    for op in (QOp.AVG_POOL, QOp.MAX_POOL):
        layer, tensors = make_layer(op, params, [in_shape], out_shape)
        check(layer, [x], tensors)


@pytest.mark.parametrize("shape", [(25, 5, 64), (8, 8, 64), (20, 20, 9), (1, 300, 12), (300, 1, 4), (17, 16, 8)])
@pytest.mark.parametrize("value", [-128, 127, None])
def test_global_pools_fill_the_int16_lanes(shape, value):
    # Global pools of the models (KWS 25x5x64, ResNet-8 8x8x64) and windows of more than 256 taps,
    # whole rows at once or one row of 300: the fast paths' int16 lanes at their limits.
    h, w, c = shape
    x = random_i8(np.random.default_rng(h * w * c), (1, h, w, c)) if value is None else np.full((1, h, w, c), value, np.int8)
    params = qir.PoolParams(kernel=(h, w), stride=(1, 1), padding=(0, 0, 0, 0), act_min=-128, act_max=127)
    for op in (QOp.AVG_POOL, QOp.MAX_POOL):
        layer, tensors = make_layer(op, params, [(1, h, w, c)], (1, 1, 1, c))
        check(layer, [x], tensors)


def test_avg_pool_rounds_half_away_from_zero():
    # Windows of two elements: sums 1, -1, 3, -3 -> 0.5, -0.5, 1.5, -1.5 -> 1, -1, 2, -2.
    params = qir.PoolParams(kernel=(1, 2), stride=(1, 2), padding=(0, 0, 0, 0), act_min=-128, act_max=127)
    layer, tensors = make_layer(QOp.AVG_POOL, params, [(1, 1, 8, 1)], (1, 1, 4, 1))
    x = np.array([0, 1, 0, -1, 1, 2, -1, -2], dtype=np.int8).reshape(1, 1, 8, 1)
    assert check(layer, [x], tensors).ravel().tolist() == [1, -1, 2, -2]
