"""The issue-13 activations in the frontend: each loads to one IR node whose float function computes what
ONNX Runtime computes (over [-8, 8], both tails); the forms exporters write as several nodes (SiLU,
HardSwish below opset 14, GELU's Erf and tanh forms, torch's thresholded Softplus) load as one node; PRelu's slope shapes; refusals name the node."""

from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import helper

from mcuq.errors import UnsupportedOpError
from mcuq.frontend import patterns
from tests.frontend.test_frontend import assert_matches_ort, build_model, op_counts, random

X = {"x": [2, 3, 4, 5]}


def wide(*shape, seed=0):
    return random(*shape, seed=seed, low=-8.0, high=8.0)


FUNCTIONS = [  # (ONNX op, attributes, opset, IR op)
    ("HardSwish", {}, 14, "hard_swish"),
    ("HardSigmoid", {}, 13, "hard_sigmoid"),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.6}, 13, "hard_sigmoid"),
    ("Elu", {}, 13, "elu"),
    ("Elu", {"alpha": 0.4}, 13, "elu"),
    ("Selu", {}, 13, "selu"),
    ("Selu", {"alpha": 1.2, "gamma": 0.9}, 13, "selu"),
    ("Gelu", {}, 20, "gelu"),
    ("Gelu", {"approximate": "tanh"}, 20, "gelu"),
    ("Exp", {}, 13, "exp"),
    ("Softplus", {}, 13, "softplus"),
]


@pytest.mark.parametrize("op, attrs, opset, ir_op", FUNCTIONS, ids=[f"{f[0]}-{f[1]}" for f in FUNCTIONS])
def test_function_of_one_value_matches_ort(op, attrs, opset, ir_op, tmp_path):
    model = build_model([helper.make_node(op, ["x"], ["y"], **attrs)], X, opset=opset)
    graph = assert_matches_ort(model, tmp_path, feeds={"x": wide(*X["x"])})
    assert op_counts(graph) == {ir_op: 1}


def constant(name, value):
    return helper.make_node("Constant", [], [name], value_float=float(value))


def gelu_erf(order: str) -> list:
    """GELU's Erf form in the orders torch writes it (TorchScript, dynamo) and with 0.5 * x first."""
    head = [constant("r2", math.sqrt(2.0)), constant("one", 1.0), constant("half", 0.5),
            helper.make_node("Div", ["x", "r2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["e", "one"], ["a"])]
    tails = {
        "torchscript": [helper.make_node("Mul", ["x", "a"], ["m"]), helper.make_node("Mul", ["m", "half"], ["y"])],
        "dynamo": [helper.make_node("Mul", ["half", "a"], ["m"]), helper.make_node("Mul", ["x", "m"], ["y"])],
        "half_x_first": [helper.make_node("Mul", ["half", "x"], ["m"]), helper.make_node("Mul", ["a", "m"], ["y"])],
    }
    return head + tails[order]


@pytest.mark.parametrize("order", ["torchscript", "dynamo", "half_x_first"])
def test_gelu_erf_form_is_one_gelu(order, tmp_path):
    graph = assert_matches_ort(build_model(gelu_erf(order), X), tmp_path, feeds={"x": wide(*X["x"])})
    assert op_counts(graph) == {"gelu": 1}
    assert graph.nodes[0].attrs == {"approximate": "none"}


def gelu_tanh(cube_form: str) -> list:
    """GELU's tanh approximation below opset 20: x^3 as Pow (dynamo) or x * (x * x) (TorchScript)."""
    cube = ([helper.make_node("Pow", ["x", "three"], ["c"])] if cube_form == "pow" else
            [helper.make_node("Mul", ["x", "x"], ["sq"]), helper.make_node("Mul", ["x", "sq"], ["c"])])
    return [constant("three", 3.0), constant("k2", 0.044715), constant("k1", math.sqrt(2.0 / math.pi)),
            constant("one", 1.0), constant("half", 0.5), *cube,
            helper.make_node("Mul", ["k2", "c"], ["v"]), helper.make_node("Add", ["x", "v"], ["u"]),
            helper.make_node("Mul", ["u", "k1"], ["s"]), helper.make_node("Tanh", ["s"], ["t"]),
            helper.make_node("Add", ["t", "one"], ["a"]), helper.make_node("Mul", ["half", "a"], ["m"]),
            helper.make_node("Mul", ["x", "m"], ["y"])]


@pytest.mark.parametrize("cube_form", ["pow", "mul"])
def test_gelu_tanh_form_is_one_gelu(cube_form, tmp_path):
    graph = assert_matches_ort(build_model(gelu_tanh(cube_form), X), tmp_path, feeds={"x": wide(*X["x"])})
    assert op_counts(graph) == {"gelu": 1}
    assert graph.nodes[0].attrs == {"approximate": "tanh"}


def softplus_with_linear_tail(threshold: float) -> list:
    """torch.onnx.export(dynamo=True) of F.softplus: Where(x > 20, x, Softplus(x))."""
    return [constant("t", threshold), helper.make_node("Softplus", ["x"], ["sp"]),
            helper.make_node("Greater", ["x", "t"], ["above"]), helper.make_node("Where", ["above", "x", "sp"], ["y"])]


def test_softplus_with_linear_tail_is_one_softplus(tmp_path):
    feeds = {"x": random(*X["x"], low=-30.0, high=30.0)}
    graph = assert_matches_ort(build_model(softplus_with_linear_tail(20.0), X, opset=18), tmp_path, feeds=feeds)
    assert op_counts(graph) == {"softplus": 1}


def fused(nodes, outputs=("y",)):
    model = build_model(nodes, X)
    constants = {n.output[0]: np.array(n.attribute[0].f, np.float32) for n in model.graph.node
                 if n.op_type == "Constant"}
    rest = [n for n in model.graph.node if n.op_type != "Constant"]
    return [n.op_type for n in patterns.fused_activations(rest, constants, list(outputs))]


def test_gelu_pattern_needs_private_intermediates_and_the_right_constants():
    assert fused(gelu_erf("torchscript")) == ["Gelu"]
    for read_elsewhere in ("d", "e", "a", "m"):  # a graph output in the middle: the nodes stay
        assert "Gelu" not in fused(gelu_erf("torchscript"), ("y", read_elsewhere)), read_elsewhere
    wrong = [constant("r2", 2.0) if n.output[0] == "r2" else n for n in gelu_erf("dynamo")]
    assert "Gelu" not in fused(wrong)
    other_factor = [helper.make_node("Mul", ["x", "a"], ["m"]), helper.make_node("Mul", ["m", "one"], ["y"])]
    assert "Gelu" not in fused(gelu_erf("dynamo")[:6] + other_factor)
    assert fused(gelu_tanh("mul")) == ["Gelu"]
    assert "Gelu" not in fused(gelu_tanh("mul"), ("y", "sq"))
    wrong_cube = [constant("three", 2.0) if n.output[0] == "three" else n for n in gelu_tanh("pow")]
    assert "Gelu" not in fused(wrong_cube)
    assert fused(softplus_with_linear_tail(20.0)) == ["Softplus"]
    assert fused(softplus_with_linear_tail(1.0)) == ["Softplus", "Greater", "Where"]  # a tail that changes values


@pytest.mark.parametrize("gate, attrs, ir_op", [("Sigmoid", {}, "swish"),
                                                ("HardSigmoid", {"alpha": 1.0 / 6.0}, "hard_swish")])
@pytest.mark.parametrize("x_first", [True, False])
def test_x_times_its_own_gate_is_one_op(gate, attrs, ir_op, x_first, tmp_path):
    nodes = [helper.make_node(gate, ["x"], ["s"], **attrs),
             helper.make_node("Mul", ["x", "s"] if x_first else ["s", "x"], ["y"])]
    graph = assert_matches_ort(build_model(nodes, X), tmp_path, feeds={"x": wide(*X["x"])})
    assert op_counts(graph) == {ir_op: 1}


def test_other_hard_sigmoid_gates_stay_a_product(tmp_path):
    nodes = [helper.make_node("HardSigmoid", ["x"], ["s"], alpha=0.2),
             helper.make_node("Mul", ["x", "s"], ["y"])]
    graph = assert_matches_ort(build_model(nodes, X), tmp_path, feeds={"x": wide(*X["x"])})
    assert op_counts(graph) == {"hard_sigmoid": 1, "mul": 1}


@pytest.mark.parametrize("slope_shape, ir_op", [((3, 1, 1), "prelu"), ((1, 3, 1, 1), "prelu"),
                                                ((1, 1, 1), "leaky_relu"), ((1,), "leaky_relu")])
def test_prelu_slopes(slope_shape, ir_op, tmp_path):
    slope = (np.array([0.25, -0.5, 1.5], np.float32)[: int(np.prod(slope_shape))]).reshape(slope_shape)
    model = build_model([helper.make_node("PRelu", ["x", "slope"], ["y"])], X, {"slope": slope})
    graph = assert_matches_ort(model, tmp_path)
    assert op_counts(graph)[ir_op] == 1


def test_prelu_on_features(tmp_path):
    model = build_model([helper.make_node("PRelu", ["x", "slope"], ["y"])], {"x": [1, 4]},
                        {"slope": np.array([0.1, -0.2, 0.3, 2.0], np.float32)})
    assert op_counts(assert_matches_ort(model, tmp_path)) == {"prelu": 1}


@pytest.mark.parametrize("node, inits, why", [
    (helper.make_node("PRelu", ["x", "slope"], ["y"], name="p"), {"slope": np.linspace(0, 1, 5).astype(np.float32)},
     r"one per channel \(axis 1\)"),
    (helper.make_node("Gelu", ["x"], ["y"], name="p", approximate="erf"), {}, "approximate='erf'"),
    (helper.make_node("Elu", ["x"], ["y"], name="p", gamma=2.0), {}, "attribute 'gamma'"),
])
def test_refusals_name_the_node(node, inits, why, tmp_path):
    import onnx

    from mcuq.frontend.onnx_loader import load_onnx

    model = build_model([node], X, inits, opset=20)
    onnx.save(model, tmp_path / "m.onnx")
    with pytest.raises(UnsupportedOpError, match=f"'p'.*{why}"):
        load_onnx(tmp_path / "m.onnx")
