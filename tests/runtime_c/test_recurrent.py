"""The recurrent kernels (runtime_c/src/recurrent: mcuq_lstm_s8, mcuq_gru_s8) equal the golden model
(mcuq/golden/recurrent.py) bit for bit on random layers: random T, F, H, direction, zero points, gate
and output requantizations, initial states; and their int16 sigmoid / tanh is CMSIS-NN's table
function at its known points."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mcuq import qir
from mcuq.golden import recurrent
from mcuq.numerics import fixedpoint as fp
from mcuq.qir import kernels
from mcuq.qir.model import QOp
from tests.helpers.c_kernels import load
from tests.helpers.kernel_harness import check
from tests.helpers.kernel_layers import cfg, make_layer, random_i8, seeds, zero_points

pytestmark = pytest.mark.usefixtures("kernel_variant")

shapes = st.tuples(st.integers(1, 12), st.integers(1, 24), st.integers(1, 20))  # T, F, H


def random_gates(rng, gates: int, features: int, hidden: int, zp_in: int, zp_h: int) -> qir.RnnGates:
    """Weights and biases at random; multipliers that map a typical product sum onto a few units of Q3.12
    (so that the gates span their sigmoid / tanh and saturate now and then)."""
    def multipliers(terms: int):
        reals = 2.0 / (math.sqrt(terms) * 128.0 * 64.0) * 2.0 ** rng.uniform(-2, 3, size=gates) * 4096
        return fp.quantize_multipliers(reals)

    in_mult, in_shift = multipliers(features)
    h_mult, h_shift = multipliers(hidden)
    return qir.RnnGates(
        input_weights=random_i8(rng, (gates * hidden, features)),
        input_bias=rng.integers(-(2**13), 2**13, size=gates * hidden).astype(np.int32),
        hidden_weights=random_i8(rng, (gates * hidden, hidden)),
        hidden_bias=rng.integers(-(2**13), 2**13, size=gates * hidden).astype(np.int32),
        input_multiplier=in_mult, input_shift=in_shift, hidden_multiplier=h_mult, hidden_shift=h_shift,
        input_offset=-zp_in, hidden_offset=-zp_h)


def output_requant(rng, product_bits: int) -> tuple[int, int]:
    """A product of Q0.(product_bits) into an int8 grid of scale ~1/100."""
    return fp.quantize_multiplier(2.0 ** -product_bits * 100.0 * 2.0 ** rng.uniform(-1, 1))


def lstm_layer(rng, steps: int, features: int, hidden: int, reverse: bool, zp_in: int, zp_out: int,
               cell_power: int):
    out_mult, out_shift = output_requant(rng, 30)
    f_mult, f_shift = fp.quantize_multiplier(2.0 ** -15)
    i_mult, i_shift = fp.quantize_multiplier(2.0 ** (-30 - cell_power))
    params = qir.LstmParams(
        gates=random_gates(rng, 4, features, hidden, zp_in, zp_out), reverse=reverse, output_offset=zp_out,
        output_multiplier=out_mult, output_shift=out_shift, forget_to_cell_multiplier=f_mult,
        forget_to_cell_shift=f_shift, input_to_cell_multiplier=i_mult, input_to_cell_shift=i_shift,
        cell_scale_power=cell_power, hidden_init=random_i8(rng, hidden),
        cell_init=rng.integers(-(2**15), 2**15, size=hidden).astype(np.int16))
    return make_layer(QOp.LSTM, params, [(1, steps, features)], (1, steps, hidden))


def gru_layer(rng, steps: int, features: int, hidden: int, reverse: bool, zp_in: int, zp_out: int):
    out_mult, out_shift = output_requant(rng, 15)
    params = qir.GruParams(
        gates=random_gates(rng, 3, features, hidden, zp_in, zp_out), reverse=reverse, output_offset=zp_out,
        output_multiplier=out_mult, output_shift=out_shift, hidden_init=random_i8(rng, hidden),
        state_init=rng.integers(-(2**15), 2**15, size=hidden).astype(np.int16))
    return make_layer(QOp.GRU, params, [(1, steps, features)], (1, steps, hidden))


@cfg(60)
@given(shapes, st.booleans(), zero_points, zero_points, st.integers(-15, -8), seeds)
def test_lstm(shape, reverse, zp_in, zp_out, cell_power, seed):
    rng = np.random.default_rng(seed)
    layer, tensors = lstm_layer(rng, *shape, reverse, zp_in, zp_out, cell_power)
    check(layer, [random_i8(rng, (1, shape[0], shape[1]))], tensors)


@cfg(60)
@given(shapes, st.booleans(), zero_points, zero_points, seeds)
def test_gru(shape, reverse, zp_in, zp_out, seed):
    rng = np.random.default_rng(seed)
    layer, tensors = gru_layer(rng, *shape, reverse, zp_in, zp_out)
    check(layer, [random_i8(rng, (1, shape[0], shape[1]))], tensors)


@pytest.mark.parametrize("sigmoid", [True, False])
@pytest.mark.parametrize("left_shift", [-2, 0, 1, 3])
def test_activation_s16_every_input(sigmoid, left_shift):
    """mcuq_rnn_activation_s16 equals the golden activation on all 65,536 int16 inputs."""
    ffi, lib = load()
    x = np.arange(-32768, 32768, dtype=np.int16)
    out = np.zeros_like(x)
    lib.mcuq_rnn_activation_s16(ffi.from_buffer("int16_t[]", x), ffi.from_buffer("int16_t[]", out), x.size,
                                left_shift, int(sigmoid))
    np.testing.assert_array_equal(out, recurrent.activation_s16(x, left_shift, sigmoid))


def test_activation_s16_values():
    """Q3.12 in, Q0.15 out: the table function is sigmoid / tanh within a few LSB."""
    x = np.arange(-32768, 32768, 97, dtype=np.int64)
    real = x / 4096.0
    sig = recurrent.activation_s16(x, 0, sigmoid=True) / 32768.0
    tanh = recurrent.activation_s16(x, 0, sigmoid=False) / 32768.0
    assert np.max(np.abs(sig - 1 / (1 + np.exp(-real)))) < 2e-4
    assert np.max(np.abs(tanh - np.tanh(real))) < 4e-4


@pytest.mark.parametrize("op, hidden", [(QOp.LSTM, 7), (QOp.GRU, 32)])
def test_scratch_matches_c(op, hidden):
    _, lib = load()
    layer, tensors = make_layer(op, None, [(1, 3, 4)], (1, 3, hidden))
    c_size = getattr(lib, f"mcuq_{op.value}_s8_get_buffer_size")(hidden)
    assert kernels.scratch_bytes(layer, tensors) == c_size
