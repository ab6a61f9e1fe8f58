"""What each float IR op is: one `OpInfo` row per op, the single place the stages ask.

The passes ask which ops are elementwise, which carry weights and a fused clamp; calibration asks
which outputs get a calibrated range and which ops only move values; the lowering asks how an op's
output is quantized and whether it has an int16 (16x8) form. A new op is a row here (and a frontend
handler, a lowering handler, a `qir.kernels` row, a golden function, a view, a template, a C kernel).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class OutputGrid(enum.Enum):
    """How the lowering quantizes an op's output."""

    CALIBRATED = "calibrated"  # the kernel requantizes (or looks up) into any grid: the output's own range
    SHARED = "shared"  # calibrated, and shared with the inputs that are free to take it (Concat)
    INPUT = "input"  # the input's grid, unchanged (pooling, reshape, transpose, pad)
    FIXED = "fixed"  # a grid of the op's own (softmax) or of the model file (fake_quant)


@dataclass(frozen=True)
class WeightAxes:
    """Where the channels are in an op's weight tensor (conv OHWI, depthwise [1, KH, KW, C], FC [O, K])."""

    output: int  # output channels: per-channel scales and the bias
    input: int  # input channels (depthwise: the same axis, one channel in, one out)
    windowed: bool  # slides a spatial window (conv, depthwise): equalization and the conv rewrites apply

    def reduced(self, rank: int) -> tuple[int, ...]:
        """The axes one output channel sums over."""
        return tuple(axis for axis in range(rank) if axis != self.output)


CONV_WEIGHTS = WeightAxes(output=0, input=3, windowed=True)
DEPTHWISE_WEIGHTS = WeightAxes(output=3, input=3, windowed=True)
DENSE_WEIGHTS = WeightAxes(output=0, input=1, windowed=False)
# ConvTranspose, OHWI like conv; not `windowed`: the conv rewrites (pad folding, equalization) do not apply.
TRANSPOSE_CONV_WEIGHTS = WeightAxes(output=0, input=3, windowed=False)


@dataclass(frozen=True)
class OpInfo:
    name: str
    output_grid: OutputGrid
    weights: WeightAxes | None = None  # None: no weight tensor
    fuses_activation: bool = False  # may carry a fused clamp (act_min/act_max attributes)
    elementwise_inputs: int = 0  # 1 or 2 for an elementwise op (inputs broadcast), else 0
    moves_values: bool = False  # only moves or selects values: an error passes through unchanged
    int16: bool = False  # has a 16x8 kernel (int16 activations, int8 weights)
    follows_input_precision: bool = False  # runs in its input's precision, int8 or int16 (reshape)
    output_holds_input: int | None = None  # a constant input whose values the output grid must hold (h0)


_ROWS = (
    OpInfo("conv2d", OutputGrid.CALIBRATED, CONV_WEIGHTS, fuses_activation=True, int16=True),
    OpInfo("depthwise_conv2d", OutputGrid.CALIBRATED, DEPTHWISE_WEIGHTS, fuses_activation=True, int16=True),
    OpInfo("fully_connected", OutputGrid.CALIBRATED, DENSE_WEIGHTS, fuses_activation=True, int16=True),
    OpInfo("add", OutputGrid.CALIBRATED, fuses_activation=True, elementwise_inputs=2, int16=True),
    OpInfo("mul", OutputGrid.CALIBRATED, fuses_activation=True, elementwise_inputs=2),
    OpInfo("max_pool", OutputGrid.INPUT, fuses_activation=True, moves_values=True, int16=True),
    OpInfo("avg_pool", OutputGrid.INPUT, fuses_activation=True, moves_values=True, int16=True),
    OpInfo("clip", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("leaky_relu", OutputGrid.CALIBRATED, elementwise_inputs=1),
    # Sigmoid, Tanh, HardSigmoid are 256-entry tables in int8, which serve any output grid: a calibrated
    # one, not TFLite's fixed 1/256 (1/128), so a narrow output range keeps its resolution (a QDQ file's
    # own grid still wins). See the closing note of issue 13 on the numerics contract.
    OpInfo("sigmoid", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("tanh", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("softmax", OutputGrid.FIXED),
    OpInfo("concat", OutputGrid.SHARED, moves_values=True),
    OpInfo("reshape", OutputGrid.INPUT, moves_values=True, follows_input_precision=True),
    OpInfo("transpose", OutputGrid.INPUT, moves_values=True),
    OpInfo("pad", OutputGrid.INPUT, moves_values=True),
    OpInfo("fake_quant", OutputGrid.FIXED, elementwise_inputs=1),
    # Functions of one int8 value: 256-entry tables, never fused into their producer (which then gets
    # a calibrated output grid of its own); no int16 form (a 65,536-entry table is not an MCU's).
    OpInfo("hard_swish", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("hard_sigmoid", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("elu", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("selu", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("gelu", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("swish", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("exp", OutputGrid.CALIBRATED, elementwise_inputs=1),
    OpInfo("softplus", OutputGrid.CALIBRATED, elementwise_inputs=1),
    # x >= 0 ? x : slope[c] * x over the last (channel) axis: not a single table when slopes differ.
    OpInfo("prelu", OutputGrid.CALIBRATED),
    OpInfo("sub", OutputGrid.CALIBRATED, fuses_activation=True, elementwise_inputs=2),
    OpInfo("resize_nearest", OutputGrid.INPUT, moves_values=True),
    OpInfo("resize_bilinear", OutputGrid.INPUT),  # a convex combination of input values: within their range
    OpInfo("conv_transpose2d", OutputGrid.CALIBRATED, TRANSPOSE_CONV_WEIGHTS, fuses_activation=True),
    OpInfo("slice", OutputGrid.INPUT, moves_values=True),
    OpInfo("gather_channels", OutputGrid.INPUT, moves_values=True),
    # MatMul of two activations, [..., M, K] x [..., N, K] (the right operand transposed) -> [..., M, N],
    # times attrs["alpha"] (1.0 unless `passes` folds a positive scalar factor after it in).
    OpInfo("batch_matmul", OutputGrid.CALIBRATED),
    # LayerNormalization over the last axis; inputs x, gamma [C], beta [C] (constants).
    OpInfo("layer_norm", OutputGrid.CALIBRATED),
    # One direction over [1, T, F] -> [1, T, H]: the output is the hidden state of each step (the LSTM's
    # second output, the cell state of each step, only calibrates the cell's power-of-two scale).
    # The initial hidden state (input 4) is the first step's hidden input, on the output's grid.
    OpInfo("lstm", OutputGrid.CALIBRATED, output_holds_input=4),
    OpInfo("gru", OutputGrid.CALIBRATED, output_holds_input=4),
)

OPS: dict[str, OpInfo] = {row.name: row for row in _ROWS}


def op_info(op: str) -> OpInfo:
    return OPS[op]


def ops_where(predicate) -> frozenset[str]:
    """The names of the ops whose row satisfies ``predicate`` (e.g. ``lambda o: o.int16``)."""
    return frozenset(row.name for row in _ROWS if predicate(row))
