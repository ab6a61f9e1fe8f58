"""Frontend of the elementwise arithmetic (issue 13): Sub, Div and Add/Mul with constants and with
operands that broadcast become the float IR the kernels run, and that IR (loaded and optimized)
computes what ONNX Runtime computes, at opset 9 and the newest opset ONNX Runtime runs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from onnx import helper

from tests.frontend.test_frontend import OPSETS, assert_matches_ort, build_model, op_counts, opset_value, random

C = 3


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op, shape, constant_first, ir_op", [
    ("Sub", (1, C, 1, 1), False, "depthwise_conv2d"),  # x - mean
    ("Sub", (C, 1, 1), True, "depthwise_conv2d"),  # c - x: weight -1, bias c
    ("Div", (1, C, 1, 1), False, "depthwise_conv2d"),  # x / std
    ("Div", (), False, "depthwise_conv2d"),
    ("Sub", (1, C, 5, 4), False, "add"),  # x + (-c), a constant operand
    ("Sub", (5, 4), True, "sub"),  # c - x with a [H,W] map
    ("Div", (1, 1, 5, 4), False, "mul"),  # x * (1/c)
    ("Add", (4,), False, "add"),
    ("Mul", (1, C, 5, 1), True, "mul"),
])
def test_constant_operand(op, shape, constant_first, ir_op, opset, tmp_path: Path) -> None:
    constant = random(*shape, seed=3, low=0.5, high=1.5)
    inputs = ["k", "x"] if constant_first else ["x", "k"]
    model = build_model([helper.make_node(op, inputs, ["y"])], {"x": [1, C, 5, 4]}, {"k": constant},
                        opset=opset_value(opset))
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph)[ir_op] == 1, op_counts(graph)
    assert "transpose" not in op_counts(graph)  # the op runs on the NHWC input, no layout change left


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
@pytest.mark.parametrize("gate_shape", [[1, C, 1, 1], [1, 1, 5, 4]])
@pytest.mark.parametrize("gate_first", [False, True])
def test_two_activations_that_broadcast(op, gate_shape, gate_first, opset, tmp_path: Path) -> None:
    """[N,C,H,W] op [N,C,1,1] (an SE gate) or [N,1,H,W] (a per-pixel map), both model inputs."""
    inputs = ["g", "x"] if gate_first else ["x", "g"]
    model = build_model([helper.make_node(op, inputs, ["y"])], {"x": [1, C, 5, 4], "g": gate_shape},
                        opset=opset_value(opset))
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph)[op.lower()] == 1, op_counts(graph)


def test_input_normalization_is_one_channel_affine(tmp_path: Path) -> None:
    """(x - mean) / std with ImageNet's per-channel constants: one 1x1 depthwise after optimize."""
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    nodes = [helper.make_node("Sub", ["x", "mean"], ["c"]), helper.make_node("Div", ["c", "std"], ["y"])]
    graph = assert_matches_ort(build_model(nodes, {"x": [1, 3, 6, 6]}, {"mean": mean, "std": std}), tmp_path)
    assert op_counts(graph) == {"depthwise_conv2d": 1}, op_counts(graph)
