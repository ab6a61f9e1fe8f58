"""The int8 convolution's small-K DSP body (runtime_c/src/convolution/mcuq_convolve_s8_dsp_smallk.c: K =
KH*KW*C_in <= 64, the filter widened once per call) equals the golden model bit for bit: K from 1 to 64
with K % 4 != 0 (the zero padding of rows and columns), 1 to 4 input channels, strides 1 and 2, padding
on every side, odd pixel and channel counts, narrow clamps, the shifts of the folded requantization and
those that leave it (-1, 0, left shifts: the general path takes those calls). Each layer runs with
exactly the body's scratch (MCUQ_CONV_S8_SMALLK_SCRATCH: no byte written past it) and one byte less
(the general path), besides the usual variants. On the host (portable C, the emulated DSP
instructions) by hypothesis, and on the emulated Cortex-M4 (the assembly steps) on fixed cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from mcuq.qir import kernels
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import assert_same, check, run_c
from tests.helpers.kernel_layers import cfg, make_layer, out_size, seeds
from tests.helpers.kernel_qemu import layer_case, tools_missing
from tests.runtime_c.test_conv_dsp_paths import dsp_conv_layer
from tests.runtime_c.test_kernels_qemu import _assert_all_pass, layer_variants

ACTS = [(-128, 127), (-100, 90), (0, 127), (-128, -60), (-3, 3)]


def smallk_need(layer) -> int:
    """The small-K body's scratch for a conv layer (kernels.conv_smallk_need)."""
    out_c, kh, kw, in_c = np.shape(layer.params.weights)
    return kernels.conv_smallk_need(kh * kw * in_c, out_c)


def smallk_layer(rng, kh, kw, in_c, c_out, stride, pad, h, w, other_shifts, act):
    window = (kh, kw, stride, pad)
    return dsp_conv_layer(rng, in_c, c_out, max(h, kh), max(w, kw), window, other_shifts, False, act)


@pytest.mark.usefixtures("kernel_variant")
@cfg(100)
@given(
    st.integers(1, 5), st.integers(1, 5),  # KH, KW
    st.integers(1, 4),  # C_in: K from 1 to 64 (filtered below)
    st.integers(1, 9),  # C_out, odd counts too
    st.sampled_from([1, 2]),
    st.tuples(*[st.integers(0, 2)] * 4),  # padding top, left, bottom, right
    st.integers(1, 7), st.integers(1, 7),
    st.booleans(),
    st.sampled_from(ACTS),
    seeds,
)
def test_smallk_conv_equals_golden(kh, kw, in_c, c_out, stride, pad, h, w, other_shifts, act, seed):
    assume(kh * kw * in_c <= 64)
    pad = (min(pad[0], kh - 1), min(pad[1], kw - 1), min(pad[2], kh - 1), min(pad[3], kw - 1))
    layer, tensors, x = smallk_layer(np.random.default_rng(seed), kh, kw, in_c, c_out, stride, pad, h, w,
                                     other_shifts, act)
    want = check(layer, x, tensors)  # separate buffers, roomy scratch, in place at the largest shift
    need = smallk_need(layer)
    for size in (need, need - 1):
        assert_same(want, run_c(layer, x, tensors, scratch_size=size), f"scratch {size} (need {need})")


@pytest.mark.usefixtures("kernel_variant")
@cfg(60)
@given(
    st.integers(1, 3), st.integers(1, 3),  # KH, KW
    st.integers(1, 4),  # C_in: rows of 1 to 12 bytes, whole words and tails of 1 to 3 bytes
    st.integers(1, 5),
    st.integers(1, 2), st.integers(1, 3),  # dilation h, w
    st.integers(0, 1),  # padding on every side
    seeds,
)
def test_smallk_dilated_windows_equal_golden(kh, kw, in_c, c_out, dil_h, dil_w, pad, seed):
    """Dilated windows never lie in the input as rows of contiguous bytes: the small-K body builds
    them as int8 columns first, then widens them in its own order of K (row words, then row tails)."""
    rng = np.random.default_rng(seed)
    h = w = 7
    layer, tensors, x = smallk_layer(rng, kh, kw, in_c, c_out, 1, (pad,) * 4, h, w, False, ACTS[1])
    out_h = out_size(h, pad, pad, kh, 1, dil_h)
    out_w = out_size(w, pad, pad, kw, 1, dil_w)
    params = dataclasses.replace(layer.params, dilation=(dil_h, dil_w))
    layer, tensors = make_layer(QOp.CONV, params, [(1, h, w, in_c)], (1, out_h, out_w, c_out))
    want = check(layer, x, tensors)
    assert_same(want, run_c(layer, x, tensors, scratch_size=smallk_need(layer)), "dilated, small-K scratch")


def test_first_layers_take_the_smallk_scratch():
    """The code generator grants the body to image models' first layers (3x3 over RGB, 16 or 8
    channels: a widened filter within 1 KB) and keeps the widened columns where the filter is larger."""
    rng = np.random.default_rng(7)
    first, tensors, _ = smallk_layer(rng, 3, 3, 3, 16, 1, (1, 1, 1, 1), 6, 6, False, ACTS[0])
    assert kernels.roomy_scratch_bytes(first, tensors) == smallk_need(first) == 2 * 28 * 19
    wide, tensors, _ = smallk_layer(rng, 10, 4, 1, 64, 2, (4, 1, 5, 2), 12, 6, False, ACTS[0])
    assert kernels.roomy_scratch_bytes(wide, tensors) == 6 * 40


def _qemu_cases():
    """Fixed layers for the assembly steps on Cortex-M4: K = 1, 3, 27 (ResNet-8's and VWW's first
    layers), 40 (KWS's), 64 (all 16 steps), 5 and 50 (tails of 3 and 2 padding bytes), 16 (1x1 stride 2)."""
    rng = np.random.default_rng(2026)
    shapes = [  # (kh, kw, in_c, c_out, stride, padding, h, w)
        (1, 1, 1, 3, 1, (0, 0, 0, 0), 3, 3), (1, 1, 3, 8, 1, (0, 0, 0, 0), 3, 5),
        (3, 3, 3, 16, 1, (1, 1, 1, 1), 5, 6), (3, 3, 3, 7, 2, (0, 0, 1, 1), 7, 7),
        (10, 4, 1, 9, 2, (4, 1, 5, 2), 12, 5), (4, 4, 4, 4, 1, (2, 1, 0, 3), 5, 4),
        (5, 1, 1, 5, 2, (1, 0, 2, 0), 9, 3), (5, 5, 2, 3, 1, (2, 2, 2, 2), 5, 5),
        (1, 1, 16, 6, 2, (0, 0, 0, 0), 5, 5),  # ResNet-8's shortcut: rows of whole words, no tail
    ]
    cases = []
    for i, (kh, kw, in_c, c_out, stride, pad, h, w) in enumerate(shapes):
        for other, act in ((False, ACTS[0]), (True, ACTS[1]), (False, ACTS[4])):
            layer, tensors, x = smallk_layer(rng, kh, kw, in_c, c_out, stride, pad, h, w, other, act)
            label = f"smallk conv {i}: {kh}x{kw}x{in_c}->{c_out} /{stride} {pad} {h}x{w}, {other}, {act}"
            cases += layer_variants(label, layer, x, tensors)
            need = smallk_need(layer)
            cases += [layer_case(f"{label}, scratch {size}", layer, x, tensors, scratch_size=size)
                      for size in (need, need - 1)]
    return cases


@pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))
def test_smallk_conv_on_cortex_m4(tmp_path):
    _assert_all_pass(_qemu_cases(), "M4", tmp_path)
