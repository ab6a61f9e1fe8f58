"""The int8 convolution's DSP path (runtime_c/src/convolution/mcuq_convolve_s8_dsp.c) equals the golden
model bit for bit on the layers its variants take: K below 16 and not a multiple of 4 (the 4-byte steps
after the 16-byte loop, the scalar tail), pointwise layers whose columns are read in place (with
separate buffers) or copied (in place), odd pixel and channel counts, and the requantization with the
bias as the accumulators' start and the output offset folded into the rounding constant (shifts in
[-23, -2]) beside the shifts that leave that path (-1, left shifts, -24 and below), with accumulators
near the ends of int32 and output offsets at the ends of int8. On the host (portable C and the emulated
DSP instructions) by hypothesis, and on the emulated Cortex-M4 (the assembly loops) on fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import cfg, make_layer, out_size, random_i8, seeds
from tests.helpers.kernel_qemu import tools_missing
from tests.runtime_c.test_kernels_qemu import _assert_all_pass, layer_variants

# (kh, kw, stride, padding (top, left, bottom, right)): pointwise (in place or read in place), a first
# layer's 3x3 with padding, a strided 3x3 without, a 2x2 with asymmetric padding.
WINDOWS = [(1, 1, 1, (0, 0, 0, 0)), (3, 3, 1, (1, 1, 1, 1)), (3, 3, 2, (0, 0, 1, 1)), (2, 2, 1, (1, 0, 0, 1))]
# Shifts the folded requantization takes, and those around its ends that take the general one.
FOLDED_SHIFTS = [-2, -3, -7, -12, -23]
OTHER_SHIFTS = [-1, 0, 1, 3, -24, -31]


def dsp_conv_layer(rng, in_c, c_out, h, w, window, other_shifts, extreme, act):
    """A one-group conv layer and its input; extreme: biases near +-2^30 and the output offset at an end
    of int8, so that accumulators and the folded rounding constant reach their bounds."""
    kh, kw, stride, pad = window
    oh, ow = out_size(h, pad[0], pad[2], kh, stride, 1), out_size(w, pad[1], pad[3], kw, stride, 1)
    shifts = rng.choice(FOLDED_SHIFTS + (OTHER_SHIFTS if other_shifts else []), size=c_out).astype(np.int32)
    mult = rng.integers(1 << 30, (1 << 31) - 1, size=c_out).astype(np.int32)
    bias_end = 2**30 if extreme else 2**14
    params = qir.ConvParams(
        weights=rng.integers(-127, 128, size=(c_out, kh, kw, in_c)).astype(np.int8),
        bias=rng.integers(-bias_end, bias_end, size=c_out).astype(np.int32), multiplier=mult, shift=shifts,
        input_offset=int(rng.integers(-127, 129)),
        output_offset=int(rng.choice([-128, 127])) if extreme else int(rng.integers(-128, 128)),
        stride=(stride, stride), dilation=(1, 1), padding=pad, act_min=act[0], act_max=act[1])
    layer, tensors = make_layer(QOp.CONV, params, [(1, h, w, in_c)], (1, oh, ow, c_out))
    return layer, tensors, [random_i8(rng, (1, h, w, in_c))]


# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
@pytest.mark.usefixtures("kernel_variant")
@cfg(120)
@given(
    st.sampled_from(WINDOWS),
    st.integers(1, 13),  # C_in: K = 1 to 13 (1x1), 9 to 117 (3x3), 4 to 52 (2x2)
    st.integers(1, 9),  # C_out, odd counts too
    st.integers(2, 7),
    st.integers(2, 7),
    st.booleans(),
    st.booleans(),
    st.sampled_from([(-128, 127), (-128, 127), (-100, 90), (0, 127), (-128, -60)]),
    seeds,
)
def test_dsp_conv_variants_equal_golden(window, in_c, c_out, h, w, other_shifts, extreme, act, seed):
    kh, kw, stride, pad = window
    if h + pad[0] + pad[2] < kh or w + pad[1] + pad[3] < kw:
        h, w = h + kh, w + kw
    layer, tensors, x = dsp_conv_layer(np.random.default_rng(seed), in_c, c_out, h, w, window, other_shifts,
                                       extreme, act)
    check(layer, x, tensors)  # separate buffers, roomy scratch, in place at the largest shift


def _qemu_cases():
    """Fixed layers for the assembly: K = 4, 8, 12 (the 4-byte steps alone), 20, 27, 28 and 36 (after the
    16-byte loop), pointwise with an odd pixel count (the last pixel taken twice)."""
    rng = np.random.default_rng(2024)
    shapes = [  # (in_c, c_out, h, w, window)
        (4, 6, 3, 5, WINDOWS[0]), (8, 16, 5, 5, WINDOWS[0]), (12, 7, 4, 3, WINDOWS[0]),
        (20, 9, 3, 3, WINDOWS[0]), (3, 16, 6, 7, WINDOWS[1]), (3, 8, 7, 7, WINDOWS[2]),
        (7, 5, 5, 4, WINDOWS[3]), (9, 4, 5, 5, WINDOWS[3]), (4, 3, 5, 6, WINDOWS[1]),
    ]
    cases = []
    for i, (in_c, c_out, h, w, window) in enumerate(shapes):
        for other, extreme, act in ((False, False, (-128, 127)), (True, True, (-100, 90))):
            layer, tensors, x = dsp_conv_layer(rng, in_c, c_out, h, w, window, other, extreme, act)
            label = f"dsp conv {i}: {in_c}->{c_out} {h}x{w} {window}, other shifts {other}, extreme {extreme}"
            cases += layer_variants(label, layer, x, tensors)
    return cases


@pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))
def test_dsp_conv_variants_on_cortex_m4(tmp_path):
    _assert_all_pass(_qemu_cases(), "M4", tmp_path)
