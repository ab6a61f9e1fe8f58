"""The int8 broadcasting kernels (runtime_c/src/basic_math: mcuq_broadcast_add_s8, _mul_s8) equal the
golden model bit for bit on random layers: operand dims each the output's or 1 (SE gates [N,1,1,C],
per-pixel maps [N,H,W,1], anything between), either operand a constant array, Prepare's parameters for
Add, Sub (Add with input 2's multiplier negated) and Mul (within one LSB of the float result), raw
parameters beyond them; in place over an operand of the output's dims, never over a broadcast one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.numerics import fixedpoint as fp
from mcuq.plan import inplace
from mcuq.qir.model import QOp
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import act_ranges, cfg, make_layer, make_tensor, random_i8, seeds, zero_points

# Every test here runs on each kernel path the host can run: portable C and the emulated DSP path.
pytestmark = pytest.mark.usefixtures("kernel_variant")

scales = st.floats(1e-3, 1.0)
PREPARE = {"add": fp.prepare_add, "sub": fp.prepare_sub, "mul": fp.prepare_mul}
SIGN = {"add": 1, "sub": -1}


@st.composite
def broadcast_dims(draw):
    """Output [N,H,W,C] and two operand dims, each dim the output's or 1."""
    out = (draw(st.integers(1, 2)), draw(st.integers(1, 5)), draw(st.integers(1, 5)), draw(st.integers(1, 19)))
    operands = [tuple(d if draw(st.booleans()) else 1 for d in out) for _ in range(2)]
    return out, operands


def broadcast_layer(kind: str, arith, out_dims, operand_dims, constant_index: int | None, rng):
    """A BROADCAST_ADD/MUL layer, its tensors and its input arrays; operand ``constant_index`` (if any)
    is a constant of the layer instead of an input."""
    operands = [random_i8(rng, dims) for dims in operand_dims]
    constant = None if constant_index is None else operands[constant_index]
    inputs = [x for k, x in enumerate(operands) if k != constant_index]
    names = tuple(f"in{k}" for k in range(len(inputs)))
    tensors = {name: make_tensor(name, x.shape) for name, x in zip(names, inputs)} | {"out": make_tensor("out", out_dims)}
    op = QOp.BROADCAST_MUL if kind == "mul" else QOp.BROADCAST_ADD
    params = qir.BroadcastParams(arith, constant, 0 if constant_index is None else constant_index)
    return qir.Layer(op, op.value, names, "out", params), tensors, inputs, operands


@cfg(150)
@given(st.sampled_from(sorted(PREPARE)), broadcast_dims(), st.sampled_from([None, 0, 1]), scales, zero_points,
       scales, zero_points, st.floats(1e-3, 1.0), zero_points, act_ranges(), seeds)
def test_broadcast_with_prepared_params(kind, dims, constant_index, s1, z1, s2, z2, so, zo, act, seed):
    rng = np.random.default_rng(seed)
    out_dims, operand_dims = dims
    arith = PREPARE[kind](s1, z1, s2, z2, so if kind != "mul" else so * 0.1, zo, *act)
    layer, tensors, inputs, (a, b) = broadcast_layer(kind, arith, out_dims, operand_dims, constant_index, rng)
    got = check(layer, inputs, tensors).astype(np.int64)
    a, b = (np.broadcast_to(x, out_dims).astype(np.int64) for x in (a, b))
    real_b = s2 * (b - z2)
    so = so if kind != "mul" else so * 0.1
    exact = (s1 * (a - z1) * real_b if kind == "mul" else s1 * (a - z1) + SIGN[kind] * real_b) / so + zo
    assert np.all(np.abs(got - np.clip(np.round(exact), *act)) <= 1)


@cfg(100)
@given(broadcast_dims(), st.sampled_from([None, 0, 1]), st.integers(-300, 300), st.integers(-300, 300),
       st.integers(-(2**31) + 1, 2**31 - 1), st.integers(-31, 8), zero_points, act_ranges(), seeds)
def test_broadcast_mul_raw_params(dims, constant_index, off1, off2, mult, shift, zo, act, seed):
    """Multipliers of either sign, left shifts, offsets beyond Prepare's (the fast paths' limits)."""
    rng = np.random.default_rng(seed)
    arith = qir.MulParams(input1_offset=off1, input2_offset=off2, output_offset=zo, output_multiplier=mult,
                          output_shift=shift, act_min=act[0], act_max=act[1])
    layer, tensors, inputs, _ = broadcast_layer("mul", arith, *dims, constant_index, rng)
    check(layer, inputs, tensors)


@pytest.mark.parametrize("channels", [1, 3, 4, 16, 37])
@pytest.mark.parametrize("gate_first", [False, True])
@pytest.mark.parametrize("out_scale, out_zp, act", [(0.04, 5, (-128, 127)), (0.01, -20, (-20, 90))])
def test_squeeze_excitation_gate(channels, gate_first, out_scale, out_zp, act):
    """x [1,H,W,C] times a gate [1,1,1,C], either order, with and without a clamp that bites: the DSP
    and MVE rows (both clamps) and their tails."""
    rng = np.random.default_rng(channels)
    arith = fp.prepare_mul(0.05, -3, 1 / 256, -128, out_scale, out_zp, *act)
    dims = [(1, 5, 3, channels), (1, 1, 1, channels)]
    layer, tensors, inputs, _ = broadcast_layer("mul", arith, dims[0], dims[::-1] if gate_first else dims, None, rng)
    check(layer, inputs, tensors)


def test_never_in_place_over_a_broadcast_operand():
    arith = fp.prepare_mul(0.05, 0, 0.05, 0, 0.05, 0, -128, 127)
    layer, tensors, _, _ = broadcast_layer("mul", arith, (1, 4, 4, 8), [(1, 4, 4, 8), (1, 1, 1, 8)], None,
                                           np.random.default_rng(0))
    assert inplace.inplace_shift(layer, tensors, 0, 4) == 0
    assert inplace.inplace_shift(layer, tensors, 1, 4) is None


@cfg(100)
@given(st.tuples(st.integers(1, 24), st.integers(1, 12)), scales, zero_points, scales, zero_points, scales,
       zero_points, act_ranges(), seeds)
def test_sub_of_same_shapes_on_the_add_kernel(shape, s1, z1, s2, z2, so, zo, act, seed):
    """Sub of two activations of one shape is mcuq_elementwise_add_s8 with input 2's multiplier negated
    (its DSP and MVE paths decline a negative multiplier and run the portable loop)."""
    rng = np.random.default_rng(seed)
    params = fp.prepare_sub(s1, z1, s2, z2, so, zo, *act)
    layer, tensors = make_layer(QOp.ADD, params, [shape, shape], shape)
    a, b = random_i8(rng, shape), random_i8(rng, shape)
    got = check(layer, [a, b], tensors).astype(np.int64)
    exact = (s1 * (a.astype(np.int64) - z1) - s2 * (b.astype(np.int64) - z2)) / so + zo
    assert np.all(np.abs(got - np.clip(np.round(exact), *act)) <= 1)
