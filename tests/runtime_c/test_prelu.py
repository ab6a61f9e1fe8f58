"""The PReLU kernel (runtime_c/src/activations/mcuq_prelu_s8) equals the golden model bit for bit: with
Prepare's parameters from random scales and slopes (positive, zero, negative, above 1) and within one
LSB of the float PReLU, with raw parameters over the whole range the kernel takes, in place and
writing a channel slice; and it refuses shifts it cannot apply."""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import golden, qir
from mcuq.numerics import fixedpoint as fp
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check, run_c
from tests.helpers.kernel_layers import cfg, make_layer, pixel_rows, random_i8, seeds, zero_points
from tests.helpers.kernel_qemu import layer_case, run_cases, tools_missing

# The host tests run on each kernel path the host can run: portable C and the emulated DSP path.
host_paths = pytest.mark.usefixtures("kernel_variant")

scales = st.floats(1e-3, 1.0)


def prelu_params(s_in, z_in, s_out, z_out, slopes) -> qir.PreluParams:
    """What the lowering prepares (`quant.lower.lower_prelu`)."""
    positive = fp.quantize_multiplier(s_in / s_out)
    negative = fp.quantize_multipliers(s_in * np.asarray(slopes, dtype=np.float64) / s_out)
    return qir.PreluParams(-z_in, z_out, positive[0], positive[1], negative[0], negative[1])


@host_paths
@cfg(100)
@given(pixel_rows, scales, zero_points, scales, zero_points, seeds)
def test_prelu_prepared(shape, s_in, z_in, s_out, z_out, seed):
    rng = np.random.default_rng(seed)
    slopes = rng.choice([0.0, 0.25, -0.5, 1.5, -2.0], size=shape[1]) * rng.uniform(0.5, 1.0, size=shape[1])
    layer, tensors = make_layer(QOp.PRELU, prelu_params(s_in, z_in, s_out, z_out, slopes), [shape], shape)
    x = random_i8(rng, shape)
    got = check(layer, [x], tensors).astype(np.int64)
    real = s_in * (x.astype(np.int64) - z_in)
    exact = np.where(real >= 0, real, real * slopes) / s_out + z_out
    assert np.all(np.abs(got - np.clip(np.round(exact), -128, 127)) <= 1)


@host_paths
@cfg(100)
@given(pixel_rows, st.integers(-255, 255), zero_points, st.integers(-(2**31) + 1, 2**31 - 1), st.integers(-31, 30),
       seeds)
def test_prelu_raw_params(shape, input_offset, z_out, mult, shift, seed):
    # Any multiplier (negative ones: negative slopes) and any shift the kernel takes, left shifts that wrap.
    rng = np.random.default_rng(seed)
    channels = shape[1]
    negative = (rng.integers(-(2**31) + 1, 2**31, size=channels).astype(np.int32),
                rng.integers(-31, 31, size=channels).astype(np.int32))
    params = qir.PreluParams(input_offset, z_out, mult, shift, *negative)
    layer, tensors = make_layer(QOp.PRELU, params, [shape], shape)
    check(layer, [random_i8(rng, shape)], tensors)


@host_paths
def test_prelu_on_every_input_value():
    x = np.arange(-128, 128, dtype=np.int8).reshape(64, 4)
    layer, tensors = make_layer(QOp.PRELU, prelu_params(0.05, 3, 0.04, -7, [0.1, -0.3, 0.0, 2.5]), [x.shape], x.shape)
    got = check(layer, [x], tensors).astype(np.int64)
    real = 0.05 * (x.astype(np.int64) - 3)
    exact = np.where(real >= 0, real, real * np.array([0.1, -0.3, 0.0, 2.5])) / 0.04 - 7
    assert np.all(np.abs(got - np.clip(np.round(exact), -128, 127)) <= 1)


@host_paths
@pytest.mark.parametrize("field, value", [("positive_shift", 31), ("positive_shift", -32), ("input_offset", 256),
                                          ("positive_multiplier", -(2**31))])
def test_prelu_refuses_what_it_cannot_apply(field, value):
    params = dataclasses.replace(prelu_params(0.05, 3, 0.04, -7, [0.1, -0.3]), **{field: value})
    layer, tensors = make_layer(QOp.PRELU, params, [(3, 2)], (3, 2))
    x = np.zeros((3, 2), np.int8)
    with pytest.raises(ValueError):
        golden.run_layer(layer, [x], tensors)
    with pytest.raises(AssertionError, match="returned"):
        run_c(layer, [x], tensors)


def _qemu_cases(seed: int) -> list:
    """Random PReLU layers as QEMU cases, with Prepare's parameters and raw ones (any multiplier and
    shift): separate buffers, in place over the input, a channel slice."""
    rng = np.random.default_rng(seed)
    cases = []
    for k in range(12):
        shape = (int(rng.integers(1, 40)), int(rng.choice([1, 3, 4, 5, 8, 15, 16, 17, 33])))
        if k % 2:
            params = qir.PreluParams(int(rng.integers(-255, 256)), int(rng.integers(-128, 128)),
                                     int(rng.integers(-(2**31) + 1, 2**31)), int(rng.integers(-31, 31)),
                                     rng.integers(-(2**31) + 1, 2**31, size=shape[1]).astype(np.int32),
                                     rng.integers(-31, 31, size=shape[1]).astype(np.int32))
        else:
            s_in, s_out = (float(v) for v in rng.uniform(1e-3, 0.5, size=2))
            slopes = rng.uniform(-2.0, 2.0, size=shape[1])
            params = prelu_params(s_in, int(rng.integers(-128, 128)), s_out, int(rng.integers(-128, 128)), slopes)
        layer, tensors = make_layer(QOp.PRELU, params, [shape], shape)
        x = random_i8(rng, shape)
        where = [{}, {"inplace_shift": 0}, {"pixel_stride": shape[1] + 3}][k % 3]
        cases.append(layer_case(f"prelu {shape} {where}", layer, [x], tensors, **where))
    return cases


@pytest.mark.skipif(tools_missing() is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"),
                    reason=str(tools_missing()))
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])  # Cortex-M4 (DSP), Cortex-M55 (MVE)
def test_prelu_under_qemu_equals_golden(board, tmp_path):
    cases = _qemu_cases(7)
    result = run_cases(cases, board, tmp_path)
    assert not result.failed, "; ".join(cases[i].label for i in result.failed) + "\n" + result.log[-2000:]
