"""The int8 depthwise convolution kernel (runtime_c/src/convolution, mcuq_depthwise_conv_s8) equals the
golden model bit for bit on random layers (channel multipliers, dilations, padding) and on the 3x3
shapes of its fast paths, extreme accumulators included. (Its scratch size and in-place run are
tested beside the convolution's, in test_convolution.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
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
@given(windows, st.integers(1, 5), st.integers(1, 3), zero_points, zero_points, act_ranges(), seeds)
def test_depthwise_conv(window, c_in, ch_mult, zp_in, zp_out, act, seed):
    h, w, kh, kw, sh, sw, dh, dw, pad = window
    oh, ow = out_size(h, pad[0], pad[2], kh, sh, dh), out_size(w, pad[1], pad[3], kw, sw, dw)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    c_out = c_in * ch_mult
    mult, shift = channel_requant(rng, c_out, kh * kw)
    params = qir.DepthwiseConvParams(
        weights=rng.integers(-127, 128, size=(1, kh, kw, c_out)).astype(np.int8),
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
        ch_mult=ch_mult,
    )
    layer, tensors = make_layer(QOp.DEPTHWISE_CONV, params, [(1, h, w, c_in)], (1, oh, ow, c_out))
    check(layer, [random_i8(rng, (1, h, w, c_in))], tensors)


@cfg(200)
@given(
    st.integers(1, 13),
    st.integers(1, 11),
    st.integers(1, 3),
    st.integers(1, 3),
    st.tuples(*[st.integers(0, 3)] * 4),
    st.sampled_from([1, 3, 4, 5, 8, 16, 17, 20, 33, 64]),
    st.integers(1, 2),
    zero_points,
    zero_points,
    act_ranges(),
    st.booleans(),
    seeds,
)
def test_depthwise_conv_3x3(h, w, sh, sw, pad, c, batch, zp_in, zp_out, act, extreme, seed):
    """The fast depthwise paths (3x3, ch_mult 1, dilation 1; padding up to 2 columns a side, more
    falls back to the portable loop): strides, channel counts that are and are not multiples of the
    vector width, batches, and the extreme accumulators of all -128 inputs and weights."""
    oh, ow = out_size(h, pad[0], pad[2], 3, sh, 1), out_size(w, pad[1], pad[3], 3, sw, 1)
    assume(oh >= 1 and ow >= 1)
    rng = np.random.default_rng(seed)
    mult, shift = channel_requant(rng, c, 9)
    weights = rng.integers(-127, 128, size=(1, 3, 3, c)).astype(np.int8)
    x = random_i8(rng, (batch, h, w, c))
    if extreme:
        weights[...] = -128
        x[...] = -128
    params = qir.DepthwiseConvParams(
        weights=weights,
        bias=rng.integers(-(2**14), 2**14, size=c).astype(np.int32),
        multiplier=mult,
        shift=shift,
        input_offset=-zp_in,
        output_offset=zp_out,
        stride=(sh, sw),
        dilation=(1, 1),
        padding=pad,
        act_min=act[0],
        act_max=act[1],
        ch_mult=1,
    )
    layer, tensors = make_layer(QOp.DEPTHWISE_CONV, params, [(batch, h, w, c)], (batch, oh, ow, c))
    check(layer, [x], tensors)
