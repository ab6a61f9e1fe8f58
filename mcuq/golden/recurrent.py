"""The golden model of the recurrent layers (LSTM, GRU): int8 input and weights, int16 gates and state.

The LSTM is CMSIS-NN's ``arm_lstm_unidirectional_s8`` step by step (``arm_nn_lstm_step_s8``): each gate is
two matrix products requantized into Q3.12 and added with saturation (``arm_nn_vec_mat_mul_result_acc_s8_s16``),
then ``arm_nn_activation_s16`` (a 256-entry sigmoid table with linear interpolation; tanh through it);
the cell state is int16 at a power-of-two scale; the hidden state int8. The GRU follows the same scheme
(see `gru_step`). ``runtime_c/src/recurrent`` computes the same bytes.
"""

from __future__ import annotations

import re

import numpy as np

from mcuq import qir
from mcuq.golden.s8 import as_shape
from mcuq.numerics import fixedpoint as fp
from mcuq.resources import resource_dir

Q15_MIN, Q15_MAX = -32768, 32767


def _sigmoid_table() -> np.ndarray:
    """sigmoid(i / 24) in 0.16 fixed point, i = 0..255: CMSIS-NN's ``sigmoid_table_uint16`` (arm_nntables.c),
    which is not exactly the rounded formula (44 entries differ by one from round(65536 * sigmoid(i / 24))).
    Read from the C kernel's source, so that the table is written once."""
    text = (resource_dir("runtime_c") / "src" / "recurrent" / "mcuq_lstm_s8_support.c").read_text()
    body = re.search(r"mcuq_sigmoid_table_u16\[256\] = \{([^}]*)\}", text).group(1)
    return np.array([int(v) for v in body.replace("\n", " ").split(",") if v.strip()], dtype=np.int64)


SIGMOID_TABLE = _sigmoid_table()

#: Q0.15 x Q0.15 -> Q0.15 and Q0.15 x Q3.12 -> Q3.12: the real multiplier 2^-15 as (Q31 multiplier, shift).
HALF_Q31, SHIFT_2_POW_MINUS_15 = 1 << 30, -14


def activation_s16(x: np.ndarray, left_shift: int, sigmoid: bool) -> np.ndarray:
    """``arm_nn_activation_s16``: sigmoid (or tanh) of int16 Q3.12 ``x`` times 2^left_shift, into Q0.15."""
    x = np.asarray(x, dtype=np.int64)
    multiplier = 3 if left_shift < 0 else 3 << left_shift
    right = -left_shift if left_shift < 0 else 0
    rounding = (1 << (right - 1)) if right > 0 else 0
    value = (x * multiplier + rounding) >> right
    magnitude = np.abs(value)
    step_bits, saturated = (9, 0x7FFF << 10) if sigmoid else (8, 0xFFFF << 8)
    index = magnitude >> step_bits
    low = SIGMOID_TABLE[np.minimum(index, 254)]
    high = SIGMOID_TABLE[np.minimum(index, 254) + 1]
    fraction = magnitude & ((1 << step_bits) - 1)
    result = np.where(index >= 255, saturated, (low << step_bits) + fraction * (high - low))
    if sigmoid:
        result = np.where(value >= 0, result + (1 << 9), (1 << 25) - result + (1 << 9) - 1) >> 10
    else:
        result = np.where(value >= 0, result - (1 << 23) + (1 << 7), -result + (1 << 23) + (1 << 7) - 1) >> 8
    return result.astype(np.uint32).astype(np.uint16).astype(np.int16).astype(np.int64)  # (int16_t)(uint32_t)


def _mat_acc(vector: np.ndarray, offset: int, weights: np.ndarray, bias: np.ndarray, multiplier: int, shift: int,
             into: np.ndarray) -> np.ndarray:
    """``arm_nn_vec_mat_mul_result_acc_s8_s16``: into + requantize(bias + W (vector + offset)), saturated to int16."""
    acc = bias + (vector + offset) @ weights.T
    if acc.min() < fp.INT32_MIN or acc.max() > fp.INT32_MAX:
        raise ValueError("the int32 accumulator of a gate overflows")
    return np.clip(fp.requantize(acc, multiplier, shift) + into, Q15_MIN, Q15_MAX)


def gate_preactivation(gates: qir.RnnGates, g: int, x: np.ndarray, h: np.ndarray,
                       apart: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Gate ``g``'s pre-activation in Q3.12 and its input product alone: the input product, then the
    hidden one added (saturating); ``apart`` (GRU's candidate): the hidden product alone instead."""
    rows = slice(g * h.shape[-1], (g + 1) * h.shape[-1])
    w = np.asarray(gates.input_weights, dtype=np.int64)[rows]
    r = np.asarray(gates.hidden_weights, dtype=np.int64)[rows]
    zeros = np.zeros(h.shape, dtype=np.int64)
    xin = _mat_acc(x, gates.input_offset, w, np.asarray(gates.input_bias, np.int64)[rows],
                   int(gates.input_multiplier[g]), int(gates.input_shift[g]), zeros)
    start = zeros if apart else xin
    return _mat_acc(h, gates.hidden_offset, r, np.asarray(gates.hidden_bias, np.int64)[rows],
                    int(gates.hidden_multiplier[g]), int(gates.hidden_shift[g]), start), xin


def mul_s16(a: np.ndarray, b: np.ndarray, multiplier: int, shift: int, lo: int = Q15_MIN, hi: int = Q15_MAX):
    """``arm_elementwise_mul_s16`` (offsets 0): requantize(a * b), clamped."""
    return np.clip(fp.requantize(a * b, multiplier, shift), lo, hi)


def _unrolled(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor], state: np.ndarray,
              step) -> np.ndarray:
    """The output sequence of ``step(x_t, h, state) -> (h, state)`` over time (backwards when reversed),
    h the previous step's output (the initial hidden state first); each of the N sequences of the batch
    (the C kernel runs one, N = 1; the per-layer diagnosis stacks samples) on its own."""
    x_shape, out_shape = tensors[layer.inputs[0]].shape, tensors[layer.output].shape
    x = as_shape(inputs[0], x_shape, layer.name).astype(np.int64)
    if len(x_shape) != 3 or out_shape[:2] != x_shape[:2]:
        raise ValueError(f"{layer.name}: input {x_shape} and output {out_shape} are not [N, T, F] and [N, T, H]")
    steps = x_shape[1]
    out = np.zeros(out_shape, dtype=np.int64)
    h = np.broadcast_to(np.asarray(layer.params.hidden_init, dtype=np.int64), (x_shape[0], out_shape[2]))
    state = np.broadcast_to(np.asarray(state, dtype=np.int64), h.shape)
    for t in range(steps - 1, -1, -1) if layer.params.reverse else range(steps):
        h, state = step(x[:, t], h, state)
        out[:, t] = h
    return out.astype(np.int8)


def _gate(gates: qir.RnnGates, g: int, x: np.ndarray, h: np.ndarray, sigmoid: bool) -> np.ndarray:
    return activation_s16(gate_preactivation(gates, g, x, h)[0], 0, sigmoid)


def lstm(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """``arm_nn_lstm_step_s8`` per time step (gate order i, o, f, c as ONNX stores them)."""
    p: qir.LstmParams = layer.params

    def step(x: np.ndarray, h: np.ndarray, c: np.ndarray):
        c = mul_s16(_gate(p.gates, 2, x, h, True), c, p.forget_to_cell_multiplier, p.forget_to_cell_shift)
        update = fp.requantize(_gate(p.gates, 0, x, h, True) * _gate(p.gates, 3, x, h, False),
                               p.input_to_cell_multiplier, p.input_to_cell_shift)
        c = np.clip(c + update, -Q15_MAX, Q15_MAX)
        squashed = activation_s16(c, p.cell_scale_power + 12, sigmoid=False)
        h = fp.requantize(_gate(p.gates, 1, x, h, True) * squashed, p.output_multiplier, p.output_shift)
        return np.clip(h + p.output_offset, -128, 127), c

    return _unrolled(layer, inputs, tensors, p.cell_init, step)


def gru(layer: qir.Layer, inputs: list[np.ndarray], tensors: dict[str, qir.QTensor]) -> np.ndarray:
    """One GRU step (gate order z, r, h as ONNX stores them; linear_before_reset=1):
    z, r = sigmoid(Q3.12 gates); the candidate's pre-activation is its input product plus r times its
    hidden product (bias Rb_h included), r * hn requantized by 2^-15 into Q3.12; n = tanh of it; the
    state s (Q0.15) becomes n + z * (s - n), the product requantized by 2^-15; the output is s
    requantized into the output's grid, and the next step's hidden input."""
    p: qir.GruParams = layer.params

    def step(x: np.ndarray, h: np.ndarray, state: np.ndarray):
        z = _gate(p.gates, 0, x, h, True)
        r = _gate(p.gates, 1, x, h, True)
        hn, xn = gate_preactivation(p.gates, 2, x, h, apart=True)
        n = activation_s16(np.clip(xn + mul_s16(r, hn, HALF_Q31, SHIFT_2_POW_MINUS_15), Q15_MIN, Q15_MAX), 0,
                           sigmoid=False)
        state = np.clip(n + fp.requantize(z * (state - n), HALF_Q31, SHIFT_2_POW_MINUS_15), Q15_MIN, Q15_MAX)
        h = fp.requantize(state, p.output_multiplier, p.output_shift)
        return np.clip(h + p.output_offset, -128, 127), state

    return _unrolled(layer, inputs, tensors, p.state_init, step)


OPS = {qir.QOp.LSTM: lstm, qir.QOp.GRU: gru}
