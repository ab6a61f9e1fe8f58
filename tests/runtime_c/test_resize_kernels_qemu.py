"""The resize and transposed-convolution kernels on the real instructions: random layers under QEMU on a
Cortex-M4 (mcuq_convolve_s8's DSP path inside mcuq_transpose_conv_s8) and a Cortex-M55 (its MVE path),
each equal to the golden model byte for byte, with the least and the roomy scratch."""

from __future__ import annotations

import numpy as np
import pytest

from mcuq import qir
from mcuq.qir import kernels
from mcuq.qir.model import QOp
from tests.helpers.kernel_layers import make_layer, random_i8
from tests.helpers.kernel_qemu import layer_case, run_cases
from tests.runtime_c.test_kernels_qemu import CORES, _act, pytestmark  # noqa: F401 (pytestmark: skip without tools)
from tests.runtime_c.test_resize_kernels import transpose_conv_layer

# (input NHWC, output NHWC, k, stride, (top, left)): the decoders' shapes (k3 s2 p1 output_padding 1,
# k2 s2, k4 s2 p1) with channel counts on and off the vector widths.
TRANSPOSE_CONV = [
    ((1, 4, 5, 16), (1, 8, 10, 8), 3, 2, (1, 1)),
    ((1, 3, 3, 5), (1, 6, 6, 7), 2, 2, (0, 0)),
    ((1, 4, 4, 8), (1, 8, 8, 3), 4, 2, (1, 1)),
    ((2, 3, 4, 12), (2, 5, 7, 16), 3, 2, (1, 1)),
    ((1, 5, 5, 4), (1, 5, 5, 4), 3, 1, (1, 1)),
]


def bilinear_table(rng, n_in: int, n_out: int) -> tuple[int, ...]:
    """(lower, upper = lower or lower + 1, weight in [0, 1024]) per output index, flattened."""
    lows = rng.integers(0, n_in, size=n_out)
    return tuple(int(v) for lo in lows for v in (lo, min(lo + 1, n_in - 1), rng.integers(0, 1025)))


def resize_cases(rng) -> list:
    cases = []
    for in_shape, out_shape in (((1, 4, 5, 3), (1, 8, 10, 3)), ((1, 5, 3, 16), (1, 7, 9, 16)),
                                ((2, 3, 3, 1), (2, 6, 5, 1))):
        rows = tuple(sorted(int(v) for v in rng.integers(0, in_shape[1], size=out_shape[1])))
        cols = tuple(sorted(int(v) for v in rng.integers(0, in_shape[2], size=out_shape[2])))
        layer, tensors = make_layer(QOp.RESIZE_NEAREST, qir.ResizeParams(rows, cols), [in_shape], out_shape)
        cases.append(layer_case(f"nearest {in_shape} -> {out_shape}", layer, [random_i8(rng, in_shape)], tensors))
        tables = [bilinear_table(rng, size, n) for n, size in ((out_shape[1], in_shape[1]), (out_shape[2], in_shape[2]))]
        layer, tensors = make_layer(QOp.RESIZE_BILINEAR, qir.ResizeParams(*tables), [in_shape], out_shape)
        cases.append(layer_case(f"bilinear {in_shape} -> {out_shape}", layer, [random_i8(rng, in_shape)], tensors))
    return cases


def transpose_conv_cases(rng) -> list:
    cases = []
    for geometry in TRANSPOSE_CONV:
        layer, tensors = transpose_conv_layer(rng, geometry, int(rng.integers(-128, 128)),
                                              int(rng.integers(-128, 128)), _act(rng))
        x = random_i8(rng, geometry[0])
        label = f"transpose conv {geometry[0]} -> {geometry[1]} k{geometry[2]} s{geometry[3]}"
        cases.append(layer_case(label, layer, [x], tensors))
        if kernels.roomy_scratch_bytes(layer, tensors) > kernels.scratch_bytes(layer, tensors):
            cases.append(layer_case(f"{label}, roomy scratch", layer, [x], tensors, roomy=True))
    return cases


@pytest.mark.parametrize("core", list(CORES))
def test_resize_and_transpose_conv_equal_golden(core, tmp_path):
    rng = np.random.default_rng(13)
    cases = resize_cases(rng) + transpose_conv_cases(rng)
    result = run_cases(cases, CORES[core], tmp_path)
    assert not result.failed, "on {}: {}\n{}".format(
        core, "; ".join(cases[i].label for i in result.failed), result.log[-3000:])
