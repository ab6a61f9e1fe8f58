"""Elementwise arithmetic through the whole pipeline (issue 13): Sub and Div with a constant operand
(as the exporters write them, input normalization `(x - mean) / std` among them), Add/Mul/Sub with
a constant of any broadcastable shape, and Add/Mul/Sub of two activations that broadcast
(squeeze-excitation). Each model is compiled to C and built on the host; `mcuq.compile` fails when
the C differs from the golden model on any sample, and `check` compares the int8 result with ONNX
Runtime on the float model (SQNR and max error) and asserts which int8 ops ran."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq.errors import McuqError
from tests.end_to_end.test_ops_end_to_end import check
from tests.helpers.small_models import conv, make_model, w

C = 4  # channels of the activations the cases build


def const(*shape, low=-0.5, high=0.5) -> np.ndarray:
    return np.random.default_rng(sum(shape) + len(shape)).uniform(low, high, size=shape).astype(np.float32)


def binary(op: str, left: str, right: str, out: str = "y") -> onnx.NodeProto:
    return helper.make_node(op, [left, right], [out])


# ---- a constant operand: per channel or scalar (a 1x1 depthwise), or any other shape (broadcast kernel)

CONSTANT_CASES = {
    # name: (op, constant shape, constant first?, int8 op expected)
    "sub_per_channel": ("Sub", (1, C, 1, 1), False, "depthwise_conv"),
    "constant_minus_x_per_channel": ("Sub", (C, 1, 1), True, "depthwise_conv"),
    "div_per_channel": ("Div", (1, C, 1, 1), False, "depthwise_conv"),
    "sub_scalar": ("Sub", (), False, "depthwise_conv"),
    "div_scalar": ("Div", (1,), False, "depthwise_conv"),
    "add_learned_offsets": ("Add", (1, C, 6, 6), False, "broadcast_add"),
    "offsets_plus_x": ("Add", (1, C, 6, 6), True, "broadcast_add"),
    "mul_positional_map": ("Mul", (6, 6), False, "broadcast_mul"),
    "map_times_x": ("Mul", (1, 1, 6, 6), True, "broadcast_mul"),
    "sub_map": ("Sub", (6, 1), False, "broadcast_add"),
    "map_minus_x": ("Sub", (1, C, 6, 6), True, "broadcast_add"),
    "div_by_map": ("Div", (1, 1, 6, 6), False, "broadcast_mul"),
}


@pytest.mark.parametrize("case", sorted(CONSTANT_CASES))
def test_constant_operand(case, tmp_path):
    """On the model input, then a conv (a per-channel affine after a conv would fold into it)."""
    op, shape, first, expected = CONSTANT_CASES[case]
    value = const(*shape, low=0.5, high=1.5) if op == "Div" else const(*shape)
    node = binary(op, "k", "x", "h") if first else binary(op, "x", "k", "h")
    n, inits = conv("c", "h", "y", C, 3)
    check([node, n], [1, C, 6, 6], {**inits, "k": value}, {expected}, tmp_path)
