"""The attention kernels equal the golden model bit for bit: mcuq_batch_matmul_s8 (runtime_c/src/
fully_connected, CMSIS-NN's arm_batch_matmul_s8 with the rhs transposed) and mcuq_layer_norm_s8
(runtime_c/src/normalization), on random layers (hypothesis) with Prepare's parameters and with raw ones
over the whole range the kernels take, on the host (portable and emulated DSP paths) and under QEMU on
a Cortex-M4 (DSP) and a Cortex-M55 (MVE). Against float: the batch matmul within one LSB of the exact
product, the layer norm within two LSB of float LayerNormalization on the same int8 input."""

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
from tests.helpers.kernel_layers import act_ranges, cfg, make_layer, random_i8, seeds, zero_points
from tests.helpers.kernel_qemu import layer_case, run_cases, tools_missing

host_paths = pytest.mark.usefixtures("kernel_variant")

# (leading batch dims, M, N, K): rank 2 (no batch), 3 and 4; K across the DSP (4) and MVE (16) steps.
matmul_shapes = st.tuples(st.sampled_from([(), (1,), (3,), (1, 2), (2, 3)]), st.integers(1, 9),
                          st.integers(1, 9), st.integers(1, 40))


def matmul_layer(lead, m, n, k, params):
    return make_layer(QOp.BATCH_MATMUL, params, [(*lead, m, k), (*lead, n, k)], (*lead, m, n))


def matmul_params(s_lhs, z_lhs, s_rhs, z_rhs, s_out, z_out, act=(-128, 127)) -> qir.BatchMatmulParams:
    """What the lowering prepares (`quant.lower.lower_batch_matmul`)."""
    mult, shift = fp.quantize_multiplier(s_lhs * s_rhs / s_out)
    return qir.BatchMatmulParams(-z_lhs, -z_rhs, z_out, mult, shift, *act)


@host_paths
@cfg(150)
@given(matmul_shapes, zero_points, zero_points, zero_points, st.floats(0.3, 3.0), act_ranges(), seeds)
def test_batch_matmul_prepared(shape, z_lhs, z_rhs, z_out, spread, act, seed):
    lead, m, n, k = shape
    rng = np.random.default_rng(seed)
    s_lhs, s_rhs = 0.02, 0.03
    s_out = s_lhs * s_rhs * 128.0 * np.sqrt(k) * 40.0 / spread  # a typical product spans a few dozen LSB
    layer, tensors = matmul_layer(lead, m, n, k, matmul_params(s_lhs, z_lhs, s_rhs, z_rhs, s_out, z_out, act))
    lhs, rhs = random_i8(rng, (*lead, m, k)), random_i8(rng, (*lead, n, k))
    got = check(layer, [lhs, rhs], tensors).astype(np.int64)
    real = np.matmul((lhs.astype(np.float64) - z_lhs) * s_lhs, np.swapaxes((rhs.astype(np.float64) - z_rhs) * s_rhs, -1, -2))
    exact = np.clip(np.round(real / s_out) + z_out, *act)
    assert np.all(np.abs(got - exact) <= 1)


@host_paths
@cfg(100)
@given(matmul_shapes, st.integers(-128, 128), st.integers(-128, 128), zero_points,
       st.integers(0, 2**31 - 1), st.integers(-31, 30), seeds)
def test_batch_matmul_raw_params(shape, lhs_offset, rhs_offset, z_out, mult, shift, seed):
    lead, m, n, k = shape
    rng = np.random.default_rng(seed)
    params = qir.BatchMatmulParams(lhs_offset, rhs_offset, z_out, mult, shift, -128, 127)
    layer, tensors = matmul_layer(lead, m, n, k, params)
    check(layer, [random_i8(rng, (*lead, m, k)), random_i8(rng, (*lead, n, k))], tensors)


@host_paths
def test_batch_matmul_at_the_extremes_of_its_offsets_and_depth():
    # Every product (-128 - 128) * (-128 - 128) = 2^16 over the longest depth the kernel takes: 2^30,
    # times 1/2 (the multiplier) / 2^24 (the shift) = 32; against rows of 127 - 128 = -1: 2^22 -> 0.125 -> 0.
    k = golden.s8.BATCH_MATMUL_MAX_DEPTH
    params = qir.BatchMatmulParams(-128, -128, 0, 1 << 30, -24, -128, 127)
    layer, tensors = matmul_layer((), 2, 3, k, params)
    lhs = np.full((2, k), -128, np.int8)
    rhs = np.full((3, k), -128, np.int8)
    rhs[1] = 127
    got = check(layer, [lhs, rhs], tensors)
    assert got[0, 0] == 32 and got[0, 1] == 0 and got[1, 2] == 32


@host_paths
@pytest.mark.parametrize("field, value", [("lhs_offset", 129), ("rhs_offset", -129), ("multiplier", -5),
                                          ("shift", 31), ("act_min", 100)])
def test_batch_matmul_refuses_what_it_cannot_apply(field, value):
    params = dataclasses.replace(matmul_params(0.1, 0, 0.1, 0, 0.1, 0), **{field: value})
    if field == "act_min":
        params = dataclasses.replace(params, act_max=50)
    layer, tensors = matmul_layer((2,), 3, 4, 5, params)
    x, y = np.zeros((2, 3, 5), np.int8), np.zeros((2, 4, 5), np.int8)
    if field != "act_min":
        with pytest.raises(ValueError):
            golden.run_layer(layer, [x, y], tensors)
    with pytest.raises(AssertionError, match="returned"):
        run_c(layer, [x, y], tensors)


def layer_norm_params(s_in, z_in, s_out, z_out, gamma, beta, epsilon=1e-5) -> qir.LayerNormParams:
    """What the lowering prepares (`quant.lower.lower_layer_norm`)."""
    c = len(gamma)
    mult, shift = fp.quantize_multipliers(np.asarray(gamma, np.float64) / s_out * 256 / 65536)
    bias = np.round(np.asarray(beta, np.float64) / s_out * 256).astype(np.int32)
    eps = max(1, round(c * c * epsilon / s_in**2))
    return qir.LayerNormParams(-z_in, z_out, eps, mult, shift, bias)


layer_norm_shapes = st.tuples(st.sampled_from([(), (1,), (3,), (2, 2)]), st.integers(1, 70))


@host_paths
@cfg(150)
@given(layer_norm_shapes, st.floats(1e-3, 1.0), zero_points, zero_points, st.floats(0.2, 8.0), seeds)
def test_layer_norm_prepared(shape, s_in, z_in, z_out, spread, seed):
    lead, c = shape
    rng = np.random.default_rng(seed)
    gamma = rng.normal(0, 1, size=c) * rng.choice([0.0, 1.0, 1.0, 1.0], size=c)
    beta = rng.normal(0, 0.5, size=c)
    s_out = float(spread) / 64.0
    params = layer_norm_params(s_in, z_in, s_out, z_out, gamma, beta)
    layer, tensors = make_layer(QOp.LAYER_NORM, params, [(*lead, c)], (*lead, c))
    x = random_i8(rng, (*lead, 5, c) if not lead else (*lead, c))
    layer, tensors = make_layer(QOp.LAYER_NORM, params, [x.shape], x.shape)
    got = check(layer, [x], tensors).astype(np.int64)
    real = (x.astype(np.float64) - z_in) * s_in
    centered = real - real.mean(axis=-1, keepdims=True)
    normalized = centered / np.sqrt((centered**2).mean(axis=-1, keepdims=True) + 1e-5)
    exact = np.clip(np.round((normalized * gamma + beta) / s_out) + z_out, -128, 127)
    assert np.all(np.abs(got - exact) <= 2)


@host_paths
@cfg(100)
@given(layer_norm_shapes, st.integers(-128, 128), zero_points, st.integers(1, 2**40), seeds)
def test_layer_norm_raw_params(shape, input_offset, z_out, epsilon, seed):
    lead, c = shape
    rng = np.random.default_rng(seed)
    mult = rng.integers(-(2**31) + 1, 2**31, size=c).astype(np.int32)
    shift = rng.integers(-31, 4, size=c).astype(np.int32)
    bias = rng.integers(-(2**24), 2**24, size=c).astype(np.int32)
    params = qir.LayerNormParams(input_offset, z_out, int(epsilon), mult, shift, bias)
    x = random_i8(rng, (*lead, c))
    layer, tensors = make_layer(QOp.LAYER_NORM, params, [x.shape], x.shape)
    check(layer, [x], tensors)


@host_paths
def test_layer_norm_of_a_constant_row_is_beta():
    # Zero variance: only epsilon under the root, every normalized value 0, the output beta.
    gamma, beta = np.array([1.0, -2.0, 0.5]), np.array([0.25, -0.5, 0.0])
    params = layer_norm_params(0.05, 3, 1 / 64, -10, gamma, beta)
    x = np.full((4, 3), 77, np.int8)
    layer, tensors = make_layer(QOp.LAYER_NORM, params, [x.shape], x.shape)
    got = check(layer, [x], tensors)
    assert np.array_equal(got, np.tile(np.round(beta * 64).astype(np.int8) - 10, (4, 1)))


@host_paths
@pytest.mark.parametrize("field, value", [("input_offset", 129), ("epsilon", 0)])
def test_layer_norm_refuses_what_it_cannot_apply(field, value):
    params = dataclasses.replace(layer_norm_params(0.05, 0, 0.05, 0, [1.0, 1.0], [0.0, 0.0]), **{field: value})
    layer, tensors = make_layer(QOp.LAYER_NORM, params, [(3, 2)], (3, 2))
    x = np.zeros((3, 2), np.int8)
    with pytest.raises(ValueError):
        golden.run_layer(layer, [x], tensors)
    with pytest.raises(AssertionError, match="returned"):
        run_c(layer, [x], tensors)


def _qemu_cases(seed: int) -> list:
    """Random batch matmul and layer norm layers as QEMU cases (raw and prepared parameters; layer norm
    also in place over its input)."""
    rng = np.random.default_rng(seed)
    cases = []
    for j in range(10):
        lead = [(), (2,), (1, 3)][j % 3]
        m, n = (int(v) for v in rng.integers(1, 12, size=2))
        k = int(rng.choice([1, 3, 4, 8, 15, 16, 17, 33, 64]))
        params = qir.BatchMatmulParams(int(rng.integers(-128, 129)), int(rng.integers(-128, 129)),
                                       int(rng.integers(-128, 128)), int(rng.integers(1 << 29, 1 << 31)),
                                       int(rng.integers(-14, -6)), -128, 127)
        layer, tensors = matmul_layer(lead, m, n, k, params)
        inputs = [random_i8(rng, (*lead, m, k)), random_i8(rng, (*lead, n, k))]
        cases.append(layer_case(f"batch_matmul {lead} {m}x{n}x{k}", layer, inputs, tensors))
    for j in range(6):
        c = int(rng.choice([1, 2, 7, 16, 32, 33, 64]))
        gamma, beta = rng.normal(0, 1, size=c), rng.normal(0, 0.5, size=c)
        params = layer_norm_params(float(rng.uniform(0.01, 0.2)), int(rng.integers(-128, 128)), 1 / 40,
                                   int(rng.integers(-20, 20)), gamma, beta)
        x = random_i8(rng, (int(rng.integers(1, 6)), c))
        layer, tensors = make_layer(QOp.LAYER_NORM, params, [x.shape], x.shape)
        where = [{}, {"inplace_shift": 0}][j % 2]
        cases.append(layer_case(f"layer_norm {x.shape} {where}", layer, [x], tensors, **where))
    return cases


@pytest.mark.skipif(tools_missing() is not None and not os.environ.get("MCUQ_REQUIRE_FIRMWARE_TOOLS"),
                    reason=str(tools_missing()))
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])  # Cortex-M4 (DSP), Cortex-M55 (MVE)
def test_attention_kernels_under_qemu_equal_golden(board, tmp_path):
    cases = _qemu_cases(11)
    result = run_cases(cases, board, tmp_path)
    assert not result.failed, "; ".join(cases[i].label for i in result.failed) + "\n" + result.log[-2000:]
