"""The depthwise layers of MobileNetV1 x0.25 (MLPerf Tiny's visual wake words network) on the emulated
Cortex-M4 and Cortex-M55, equal to the golden model byte for byte: the stride-2 ones (TensorFlow SAME:
one row and column of padding at the end; output heights 12, 6 and 3, so the M55's four-row groups end
full and partial) that the MVE path takes since it handles strides, with separate buffers, in place,
and with ReLU6-style clamps and left shifts that take the general requantization."""

from __future__ import annotations

import numpy as np
import pytest

from mcuq import qir
from mcuq.qir.model import QOp
from tests.runtime_c.test_kernels_qemu import (  # pytestmark: skip where QEMU or the toolchain is missing
    CORES,
    _assert_all_pass,
    _i8,
    _layer,
    _requant,
    layer_variants,
    pytestmark,  # noqa: F401
)

# (h, w, channels, stride, padding (top, left, bottom, right), clamp)
VWW_DEPTHWISE = [
    (24, 24, 32, 2, (0, 0, 1, 1), (-128, 127)),
    (12, 12, 64, 2, (0, 0, 1, 1), (-128, 127)),
    (6, 6, 128, 2, (0, 0, 1, 1), (-128, 127)),
    (13, 11, 20, 2, (1, 1, 1, 1), (-100, 90)),  # odd sizes, symmetric padding, a clamp
    (9, 7, 8, 3, (1, 0, 1, 1), (-128, 127)),  # stride 3
    (12, 12, 32, 1, (1, 1, 1, 1), (-128, 127)),  # stride 1 beside them
]


def _cases():
    rng = np.random.default_rng(15)
    cases = []
    for h, w, c, stride, pad, (lo, hi) in VWW_DEPTHWISE:
        oh, ow = (h + pad[0] + pad[2] - 3) // stride + 1, (w + pad[1] + pad[3] - 3) // stride + 1
        mult, shift = _requant(rng, c, 9)
        params = qir.DepthwiseConvParams(
            weights=rng.integers(-127, 128, size=(1, 3, 3, c)).astype(np.int8), ch_mult=1,
            bias=rng.integers(-(2**12), 2**12, size=c).astype(np.int32), multiplier=mult, shift=shift,
            input_offset=int(rng.integers(-127, 129)), output_offset=int(rng.integers(-128, 128)),
            stride=(stride, stride), dilation=(1, 1), padding=pad, act_min=lo, act_max=hi)
        layer, tensors = _layer(QOp.DEPTHWISE_CONV, params, [(1, h, w, c)], (1, oh, ow, c))
        x = [_i8(rng, (1, h, w, c))]
        cases += layer_variants(f"depthwise 3x3/{stride} {c} {h}x{w} pad {pad}", layer, x, tensors)
    return cases


@pytest.mark.parametrize("core", list(CORES))
def test_vww_depthwise_layers_equal_golden(core, tmp_path):
    _assert_all_pass(_cases(), core, tmp_path)
