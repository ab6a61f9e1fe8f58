"""The Cortex-M55 (MVE) convolution and depthwise variants under QEMU, each equal to the golden model byte
for byte: the pair path's four-channel assembly block (two tail-predicated loops: K below 16, K not a
multiple of 16), the window copies, the held columns (1x1 stride 2), and the depthwise stride-1 column
loop (out_h not a multiple of 4, plane columns of 32 bytes or more, every requantization mode), with odd
pixel and channel counts, clamps narrower than int8 and left shifts. The MVE path runs only here; the
host tests check the portable and DSP paths.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.kernel_qemu import run_cases, tools_missing
from tests.runtime_c.test_kernels_qemu import _i8, _layer, _out, layer_variants

missing = tools_missing()
pytestmark = pytest.mark.skipif(
    missing is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"), reason=str(missing)
)
M55 = "mps3-an547"


def _requant(rng, channels: int, terms: int, left_shifts: bool):
    """Per-channel (multiplier, shift) putting a typical accumulator onto a few dozen LSB; with
    left_shifts, every third channel gets a scale above 1."""
    reals = 64.0 / (np.sqrt(terms) * 4000.0) * 2.0 ** rng.uniform(-3, 3, size=channels)
    if left_shifts:
        reals[::3] = 2.0 ** rng.uniform(0.2, 2.5, size=len(reals[::3]))
    return fp.quantize_multipliers(reals)


def conv_case(h, w, c_in, c_out, kernel, stride, pad, act, left_shifts, seed, depthwise=False):
    """The layer with separate buffers and in place (see layer_variants), random data from seed."""
    rng = np.random.default_rng(seed)
    oh, ow = _out(h, pad, pad, kernel, stride), _out(w, pad, pad, kernel, stride)
    mult, shift = _requant(rng, c_out, kernel * kernel * (1 if depthwise else c_in), left_shifts)
    zp_in, zp_out = (int(v) for v in rng.integers(-128, 128, size=2))
    common = dict(bias=rng.integers(-(2**14), 2**14, size=c_out).astype(np.int32), multiplier=mult, shift=shift,
                  input_offset=-zp_in, output_offset=zp_out, stride=(stride, stride), dilation=(1, 1),
                  padding=(pad,) * 4, act_min=act[0], act_max=act[1])
    if depthwise:
        weights = rng.integers(-127, 128, size=(1, kernel, kernel, c_out)).astype(np.int8)
        params, op = qir.DepthwiseConvParams(weights=weights, ch_mult=1, **common), QOp.DEPTHWISE_CONV
    else:
        weights = rng.integers(-127, 128, size=(c_out, kernel, kernel, c_in)).astype(np.int8)
        params, op = qir.ConvParams(weights=weights, **common), QOp.CONV
    layer, tensors = _layer(op, params, [(1, h, w, c_in)], (1, oh, ow, c_out))
    label = f"{op.value} {kernel}x{kernel}/{stride} {c_in}->{c_out} {h}x{w} pad {pad} act {act} seed {seed}"
    return layer_variants(label, layer, [_i8(rng, (1, h, w, c_in))], tensors)


def _assert_pass(cases, tmp_path):
    result = run_cases(cases, M55, tmp_path)
    assert not result.failed, "; ".join(cases[i].label for i in result.failed) + "\n" + result.log[-3000:]


def test_each_mve_variant_equals_golden(tmp_path):
    full, narrow = (-128, 127), (-90, 70)
    cases = []
    for args in [
        (3, 5, 8, 16, 1, 1, 0, full, False),  # pair path, K = 8 < 16: one predicated step per loop
        (5, 3, 9, 20, 3, 1, 1, narrow, True),  # pair path, K = 81: a 1-byte tail, odd pixel count
        (4, 4, 16, 17, 3, 1, 1, full, False),  # K = 144, 16 full steps; a 17th channel (scalar step)
        (7, 7, 32, 12, 1, 2, 0, narrow, False),  # held column, 1x1 stride 2 (K = 32)
        (5, 5, 3, 16, 3, 1, 1, full, True),  # held column, K = 27 (window copies of 9 bytes)
    ]:
        cases += conv_case(*args, seed=len(cases))
    for h, w, c, act, left in [
        (25, 5, 12, full, False),  # out_h 25: a last block of one row (tail predication)
        (8, 3, 5, full, False),  # out_h 8: full blocks only
        (31, 2, 3, full, False),  # 32-byte plane columns do not fit (h + 2 > 32): the C loop
        (6, 6, 7, narrow, False),  # activation clamp (mode 1)
        (9, 4, 6, full, True),  # left shifts in every third channel (mode 2), the rest mode 0
    ]:
        cases += conv_case(h, w, c, c, 3, 1, 1, act, left, seed=len(cases), depthwise=True)
    _assert_pass(cases, tmp_path)


@st.composite
def mve_convs(draw):
    """A conv or depthwise layer aimed at one of the variants above, with random sizes around them."""
    seed = draw(st.integers(0, 2**32 - 1))
    act = draw(st.sampled_from([(-128, 127), (-128, 127), (-100, 90), (-5, 127)]))
    left_shifts = draw(st.booleans())
    kind = draw(st.sampled_from(["small_k", "pair", "held_strided", "depthwise"]))
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    if kind == "depthwise":
        c = draw(st.integers(1, 20))
        h = draw(st.integers(1, 34))
        return conv_case(h, w, c, c, 3, 1, 1, act, left_shifts, seed, depthwise=True)
    c_out = draw(st.integers(1, 24))
    if kind == "small_k":
        return conv_case(h, w, draw(st.integers(1, 15)), c_out, 1, 1, 0, act, left_shifts, seed)
    if kind == "held_strided":
        return conv_case(h + 1, w + 1, draw(st.integers(16, 64)), c_out, 1, 2, 0, act, left_shifts, seed)
    return conv_case(h + 2, w + 2, draw(st.integers(8, 40)), c_out, 3, draw(st.integers(1, 2)), 1, act, left_shifts,
                     seed)


# Each example builds one firmware of eight random layers (with their in-place variants).
@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(layers=st.lists(mve_convs(), min_size=8, max_size=8))
def test_random_mve_layers_equal_golden(layers, tmp_path_factory):
    _assert_pass([case for variants in layers for case in variants], tmp_path_factory.mktemp("m55"))
