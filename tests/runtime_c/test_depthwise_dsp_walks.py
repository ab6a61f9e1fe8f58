"""The 3x3 depthwise DSP path's walks (runtime_c/src/convolution/mcuq_depthwise_conv_s8_dsp.c) equal the
golden model bit for bit: planes transposed (outputs taller than wide, KWS's 25x5) or not, plane rows
32 bytes apart or at the plane's own pitch (inputs wider or taller than 30), stride 1 (pairs of outputs
over every row, an odd last pixel) and 2 (pairs of outputs along the plane rows too) with odd sizes,
every side of padding, channel counts that are not multiples of 4, narrow clamps, and every requantization mode (shifts folded with the output offset,
left shifts, right shifts beyond 23). On the host (portable C and the emulated DSP path) and, for a few
layers of those shapes, on the real instructions under QEMU (M4; M55 and M3 take the planes' shared
set-up)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import act_ranges, cfg, make_layer, out_size, random_i8, seeds, zero_points
from tests.helpers.kernel_qemu import layer_case, run_cases, tools_missing


def requant(rng, channels: int):
    """Per-channel (multiplier, shift) over every requantization mode of the DSP path: right shifts of 2
    to 23 (folded with the output offset, most channels), 1 and beyond 23, and left shifts."""
    reals = 64.0 / (3.0 * 4000.0) * 2.0 ** rng.uniform(-4, 4, size=channels)
    kind = rng.integers(0, 8, size=channels)
    reals[kind == 0] = 2.0 ** rng.uniform(0, 3, size=int((kind == 0).sum()))  # left shift
    reals[kind == 1] = 2.0 ** rng.uniform(-27, -24, size=int((kind == 1).sum()))  # right shift beyond 23
    reals[kind == 2] = 2.0 ** rng.uniform(-2, -0.01, size=int((kind == 2).sum()))  # right shift of 1, or none
    return fp.quantize_multipliers(reals)


def edge_biases(rng, channels: int):
    """Biases about the DSP path's doubled-accumulator bound (|folded bias| <= 2^29 doubles weights and
    bias and requantizes with SMMLAR; past it the channel takes the undoubled path): an accumulator that
    overflowed there would flip its output's sign."""
    edges = np.array([2**29 - 2**19, 2**29 + 2**19, 2**30 + 2**29, 2**14], dtype=np.int64)
    return (rng.choice(edges, size=channels) * rng.choice([-1, 1], size=channels)).astype(np.int32)


def depthwise_3x3(rng, batch, h, w, c, stride, pad, zp_in, zp_out, act, bias=None):
    oh, ow = out_size(h, pad[0], pad[2], 3, stride[0], 1), out_size(w, pad[1], pad[3], 3, stride[1], 1)
    mult, shift = requant(rng, c)
    params = qir.DepthwiseConvParams(
        weights=rng.integers(-127, 128, size=(1, 3, 3, c)).astype(np.int8),
        bias=rng.integers(-(2**14), 2**14, size=c).astype(np.int32) if bias is None else bias,
        multiplier=mult, shift=shift, input_offset=-zp_in, output_offset=zp_out, stride=stride,
        dilation=(1, 1), padding=pad, act_min=act[0], act_max=act[1], ch_mult=1)
    layer, tensors = make_layer(QOp.DEPTHWISE_CONV, params, [(batch, h, w, c)], (batch, oh, ow, c))
    return layer, tensors, [random_i8(rng, (batch, h, w, c))]


# (H, W): tall and narrow (transposed planes; taller than 30: not 32-byte rows), wide (wider than 30:
# the plane's own pitch), and small squares.
shapes = st.one_of(
    st.tuples(st.integers(4, 40), st.integers(1, 6)),
    st.tuples(st.integers(1, 8), st.integers(20, 40)),
    st.tuples(st.integers(1, 9), st.integers(1, 9)),
)


@pytest.mark.usefixtures("kernel_variant")
@cfg(150)
@given(shapes, st.sampled_from([1, 3, 4, 5, 8, 12, 13]), st.integers(1, 2), st.integers(1, 2), st.integers(1, 2),
       st.tuples(*[st.integers(0, 1)] * 4), zero_points, zero_points, act_ranges(), seeds)
def test_dsp_walks_equal_golden(shape, c, batch, sh, sw, pad, zp_in, zp_out, act, seed):
    h, w = shape
    assume(out_size(h, pad[0], pad[2], 3, sh, 1) >= 1 and out_size(w, pad[1], pad[3], 3, sw, 1) >= 1)
    layer, tensors, x = depthwise_3x3(np.random.default_rng(seed), batch, h, w, c, (sh, sw), pad, zp_in, zp_out, act)
    check(layer, x, tensors)


missing = tools_missing()
CORES = {"M4": "mps2-an386", "M55": "mps3-an547", "M3": "mps2-an385"}
# (H, W, C, stride, padding, clamp): every walk of the DSP path once, and VWW's strided 48x48 layer.
QEMU_LAYERS = [
    (25, 5, 16, (1, 1), (1, 1, 1, 1), (-128, 127)),  # transposed, 32-byte rows, odd row length
    (35, 4, 8, (2, 1), (0, 1, 1, 0), (-20, 90)),  # transposed, taller than 30, stride 2 down the rows
    (7, 37, 12, (1, 1), (1, 0, 0, 1), (-128, 127)),  # wider than 30: the plane's pitch
    (6, 6, 20, (1, 1), (1, 1, 1, 1), (0, 127)),  # 32-byte rows, pairs of every row in one loop
    (13, 11, 5, (2, 2), (0, 0, 1, 1), (-128, 127)),  # stride 2, odd sizes, channels not in fours
    (48, 48, 4, (2, 2), (0, 0, 1, 1), (-128, 127)),  # VWW's 48x48 stride 2 (any pitch)
    # Stride 2 along the plane rows (pairs of outputs sharing a word per kernel row, an odd last pixel):
    (21, 5, 8, (2, 1), (1, 1, 1, 1), (-128, 127)),  # transposed, 32-byte rows, 11 outputs a plane row
    (7, 13, 12, (1, 2), (1, 0, 1, 0), (-30, 100)),  # row major, stride 1 down, 6 outputs a plane row
    (6, 6, 16, (2, 2), (0, 0, 1, 1), (-128, 50)),  # VWW's 6x6 -> 3x3 (four planes where roomy)
]


@pytest.mark.skipif(missing is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"), reason=str(missing))
@pytest.mark.parametrize("core", list(CORES))
def test_dsp_walks_on_the_cores(core, tmp_path):
    rng = np.random.default_rng(15)
    cases = []
    for h, w, c, stride, pad, act in QEMU_LAYERS:
        layer, tensors, x = depthwise_3x3(rng, 1, h, w, c, stride, pad, int(rng.integers(-128, 128)),
                                          int(rng.integers(-128, 128)), act)
        label = f"depthwise 3x3/{stride} {h}x{w}x{c} pad {pad}"
        cases += [layer_case(label, layer, x, tensors), layer_case(f"{label}, roomy", layer, x, tensors, roomy=True)]
    result = run_cases(cases, CORES[core], tmp_path)
    assert not result.failed, "on {}: {}\n{}".format(
        core, "; ".join(cases[i].label for i in result.failed), result.log[-3000:])


EDGE_LAYERS = [(25, 5, 16, (1, 1), (1, 1, 1, 1), (-128, 127)), (6, 6, 20, (1, 1), (1, 1, 1, 1), (0, 127)),
               (21, 5, 8, (2, 1), (1, 1, 1, 1), (-128, 127))]


def edge_bias_layers(rng):
    for h, w, c, stride, pad, act in EDGE_LAYERS:
        yield f"depthwise 3x3/{stride} {h}x{w}x{c}, biases about 2^29", depthwise_3x3(
            rng, 1, h, w, c, stride, pad, int(rng.integers(-128, 128)), int(rng.integers(-128, 128)), act,
            bias=edge_biases(rng, c))


@pytest.mark.usefixtures("kernel_variant")
def test_biases_about_the_doubled_bound_equal_golden():
    for _, (layer, tensors, x) in edge_bias_layers(np.random.default_rng(29)):
        check(layer, x, tensors)


@pytest.mark.skipif(missing is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"), reason=str(missing))
def test_biases_about_the_doubled_bound_on_the_m4(tmp_path):
    cases = [layer_case(label, layer, x, tensors, roomy=True)
             for label, (layer, tensors, x) in edge_bias_layers(np.random.default_rng(29))]
    result = run_cases(cases, CORES["M4"], tmp_path)
    assert not result.failed, "; ".join(cases[i].label for i in result.failed) + "\n" + result.log[-3000:]
