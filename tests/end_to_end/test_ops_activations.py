"""Activation functions of issue 13 through the whole pipeline, against ONNX Runtime: HardSwish,
HardSigmoid, Elu, Selu, Gelu (opset 20, and the Erf and tanh forms torch writes below it), SiLU (x * Sigmoid(x)),
Exp, Softplus as 256-entry tables after a conv that keeps a calibrated output grid of its own (a table
is never fused into its producer); PRelu with a slope per channel as the prelu kernel, with one slope as
a table; one net with all of them; and the int16 planner refusing them (they have no int16 form).
`mcuq.compile` itself fails when the C differs from the golden model."""

from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq import McuqError
from tests.end_to_end.test_ops_end_to_end import check
from tests.helpers import small_models
from tests.helpers.kernel_qemu import tools_missing
from tests.helpers.small_models import conv, make_model, w

INPUT = [1, 3, 6, 6]

TABLES = [  # (ONNX op, attributes, opset)
    ("HardSwish", {}, 14),
    ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}, 13),
    ("Elu", {"alpha": 0.7}, 13),
    ("Selu", {}, 13),
    ("Gelu", {}, 20),
    ("Gelu", {"approximate": "tanh"}, 20),
    ("Exp", {}, 13),
    ("Softplus", {}, 13),
]


def ops_of(compiled) -> list[str]:
    return [layer.op.value for layer in compiled.qmodel.layers]


@pytest.mark.parametrize("op, attrs, opset", TABLES, ids=[f"{op}-{a}" for op, a, _ in TABLES])
def test_table_activation_after_a_conv(op, attrs, opset, tmp_path):
    n, inits = conv("c", "x", "h", 3, 4)
    compiled = check([n, helper.make_node(op, ["h"], ["y"], name="act", **attrs)], INPUT, inits, {"lut"},
                     tmp_path, opset=opset)
    assert ops_of(compiled) == ["conv", "lut"]
    # The conv clamps nothing and writes its own calibrated grid; the table maps it to the output's.
    conv_layer = compiled.qmodel.layers[0]
    assert (conv_layer.params.act_min, conv_layer.params.act_max) == (-128, 127)
    assert compiled.qmodel.tensors[conv_layer.output].scale != compiled.qmodel.tensors["y"].scale


@pytest.mark.parametrize("op", ["Sigmoid", "HardSigmoid", "Tanh"])
def test_bounded_tables_take_a_calibrated_grid_within_the_function_range(op, tmp_path):
    """A narrow output range (the conv's output scaled down: outputs near f(0)) keeps its resolution: the
    table's output grid is calibrated, finer than TFLite's fixed 1/256 (1/128 for Tanh), and holds 0."""
    n, inits = conv("c", "x", "h", 3, 4)
    inits = {name: value * np.float32(0.05) for name, value in inits.items()}
    compiled = check([n, helper.make_node(op, ["h"], ["y"])], INPUT, inits, {"lut"}, tmp_path)
    out = compiled.qmodel.tensors["y"]
    fixed_step = 1 / 128 if op == "Tanh" else 1 / 256
    assert out.scale < fixed_step / 1.5
    assert -128 <= out.zero_point <= 127


def silu_nodes(x, y):
    return [helper.make_node("Sigmoid", [x], ["s"]), helper.make_node("Mul", [x, "s"], [y])]


def hard_swish_opset13_nodes(x, y):  # torch.onnx.export(dynamo=False, opset_version=13)
    return [helper.make_node("HardSigmoid", [x], ["s"], alpha=1.0 / 6.0), helper.make_node("Mul", [x, "s"], [y])]


def gelu_erf_torchscript_nodes(x, y):
    """torch.onnx.export(dynamo=False, opset_version=13): Div, Erf, Add, Mul(x, .), Mul(., 0.5)."""
    consts = {"sqrt2": math.sqrt(2.0), "one": 1.0, "half": 0.5}
    made = [helper.make_node("Constant", [], [k], value=helper.make_tensor(k, onnx.TensorProto.FLOAT, [], [v]))
            for k, v in consts.items()]
    return made + [helper.make_node("Div", [x, "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                   helper.make_node("Add", ["e", "one"], ["a"]), helper.make_node("Mul", [x, "a"], ["m"]),
                   helper.make_node("Mul", ["m", "half"], [y])]


def gelu_erf_dynamo_nodes(x, y):
    """torch.onnx.export(dynamo=True): Div, Erf, Add, Mul(0.5, .), Mul(x, .)."""
    consts = {"sqrt2": math.sqrt(2.0), "one": 1.0, "half": 0.5}
    made = [helper.make_node("Constant", [], [k], value=helper.make_tensor(k, onnx.TensorProto.FLOAT, [], [v]))
            for k, v in consts.items()]
    return made + [helper.make_node("Div", [x, "sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
                   helper.make_node("Add", ["e", "one"], ["a"]), helper.make_node("Mul", ["half", "a"], ["m"]),
                   helper.make_node("Mul", [x, "m"], [y])]


def gelu_erf_half_x_first_nodes(x, y):
    """(0.5 * x) * (1 + Erf(x * (1 / sqrt 2))), as Keras-style graphs write it."""
    inits = {"inv_sqrt2": np.array(1.0 / math.sqrt(2.0), np.float32), "one": np.array(1.0, np.float32),
             "half": np.array(0.5, np.float32)}
    return [helper.make_node("Mul", [x, "inv_sqrt2"], ["d"]), helper.make_node("Erf", ["d"], ["e"]),
            helper.make_node("Add", ["one", "e"], ["a"]), helper.make_node("Mul", ["half", x], ["hx"]),
            helper.make_node("Mul", ["hx", "a"], [y])], inits


def gelu_tanh_torchscript_nodes(x, y):
    """F.gelu(approximate="tanh") by torch.onnx.export(dynamo=False): x * (x * x), then Tanh."""
    inits = {"k2": np.array(0.044715, np.float32), "k1": np.array(math.sqrt(2.0 / math.pi), np.float32),
             "one": np.array(1.0, np.float32), "half": np.array(0.5, np.float32)}
    return [helper.make_node("Mul", [x, x], ["sq"]), helper.make_node("Mul", [x, "sq"], ["c"]),
            helper.make_node("Mul", ["k2", "c"], ["v"]), helper.make_node("Add", [x, "v"], ["u"]),
            helper.make_node("Mul", ["k1", "u"], ["s"]), helper.make_node("Tanh", ["s"], ["t"]),
            helper.make_node("Add", ["one", "t"], ["a"]), helper.make_node("Mul", [x, "a"], ["m"]),
            helper.make_node("Mul", ["half", "m"], [y])], inits


def softplus_dynamo_nodes(x, y):
    """F.softplus by torch.onnx.export(dynamo=True): Where(x > 20, x, Softplus(x))."""
    return [helper.make_node("Softplus", [x], ["sp"]), helper.make_node("Greater", [x, "t"], ["above"]),
            helper.make_node("Where", ["above", x, "sp"], [y])], {"t": np.array(20.0, np.float32)}


PATTERNS = {
    "gelu_tanh_torchscript": (gelu_tanh_torchscript_nodes, 13),
    "softplus_dynamo": (softplus_dynamo_nodes, 18),
    "silu": (silu_nodes, 13),
    "hard_swish_opset13": (hard_swish_opset13_nodes, 13),
    "gelu_erf_torchscript": (gelu_erf_torchscript_nodes, 13),
    "gelu_erf_dynamo": (gelu_erf_dynamo_nodes, 18),
    "gelu_erf_half_x_first": (gelu_erf_half_x_first_nodes, 13),
}


@pytest.mark.parametrize("pattern", sorted(PATTERNS))
def test_activation_written_as_several_nodes_is_one_table(pattern, tmp_path):
    make, opset = PATTERNS[pattern]
    n, inits = conv("c", "x", "h", 3, 4)
    made = make("h", "y")
    nodes, extra = made if isinstance(made, tuple) else (made, {})
    compiled = check([n, *nodes], INPUT, {**inits, **extra}, {"lut"}, tmp_path, opset=opset)
    assert ops_of(compiled) == ["conv", "lut"]


def test_a_gate_read_elsewhere_stays_and_the_product_is_still_one_table(tmp_path):
    """The Sigmoid's output is also a graph output: it stays, and x * Sigmoid(x) is still SiLU."""
    n, inits = conv("c", "x", "h", 3, 4)
    compiled = check([n, *silu_nodes("h", "y")], INPUT, inits, {"lut"}, tmp_path, outputs=("y", "s"))
    assert ops_of(compiled).count("lut") == 2 and "mul" not in ops_of(compiled)


@pytest.mark.parametrize("slope_shape", [(4, 1, 1), (1, 4, 1, 1)])
def test_prelu_per_channel_after_a_conv(slope_shape, tmp_path):
    n, inits = conv("c", "x", "h", 3, 4)
    slope = np.array([0.25, -0.5, 0.0, 1.5], np.float32).reshape(slope_shape)
    compiled = check([n, helper.make_node("PRelu", ["h", "slope"], ["y"])], INPUT, {**inits, "slope": slope},
                     {"prelu"}, tmp_path)
    assert ops_of(compiled) == ["conv", "prelu"]


def test_prelu_per_feature_after_a_gemm(tmp_path):
    """[N, C] input, slope [C] (torch.nn.PReLU(C) after a Linear)."""
    n, inits = conv("c", "x", "h", 3, 8)
    inits.update({"fw": w(6, 8), "fb": w(6), "slope": np.linspace(-0.5, 0.8, 6).astype(np.float32)})
    nodes = [n, helper.make_node("GlobalAveragePool", ["h"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "fw", "fb"], ["z"], transB=1), helper.make_node("PRelu", ["z", "slope"], ["y"])]
    compiled = check(nodes, INPUT, inits, {"prelu"}, tmp_path)
    assert ops_of(compiled)[-1] == "prelu"


def test_prelu_with_one_slope_is_a_table(tmp_path):
    n, inits = conv("c", "x", "h", 3, 4)
    slope = np.full((1, 1, 1), 0.2, np.float32)  # torch.nn.PReLU() exports [1, 1, 1]
    compiled = check([n, helper.make_node("PRelu", ["h", "slope"], ["y"])], INPUT, {**inits, "slope": slope},
                     {"lut"}, tmp_path)
    assert ops_of(compiled) == ["conv", "lut"]


def test_prelu_slope_varying_along_width_is_refused_naming_the_node(tmp_path):
    n, inits = conv("c", "x", "h", 3, 4)
    slope = np.linspace(0.1, 0.6, 6).astype(np.float32)  # [W]: one slope per column, not per channel
    model = make_model([n, helper.make_node("PRelu", ["h", "slope"], ["y"], name="odd_prelu")], INPUT,
                       {**inits, "slope": slope})
    onnx.save(model, tmp_path / "m.onnx")
    samples = small_models.RNG.normal(0, 1, size=(8, *INPUT[1:])).astype(np.float32)
    with pytest.raises(McuqError, match=r"odd_prelu.*one per channel \(axis 1\)"):
        mcuq.compile(tmp_path / "m.onnx", samples, tmp_path / "out")


def all_activations_net():
    """The issue's net with PReLU / HardSwish / HardSigmoid / ELU / GELU / SiLU (and Exp, Softplus, Selu),
    in the forms torch writes at opset 20 (Gelu op, HardSwish op, SiLU as x * Sigmoid(x))."""
    c1, i1 = conv("c1", "x", "h1", 3, 8)
    c2, i2 = conv("c2", "a3", "h2", 8, 8)
    c3, i3 = conv("c3", "a6", "h3", 8, 4)
    c4, i4 = conv("c4", "a9", "y", 4, 4)
    nodes = [c1, helper.make_node("PRelu", ["h1", "slope"], ["a1"]), helper.make_node("HardSwish", ["a1"], ["a2"]),
             helper.make_node("Sigmoid", ["a2"], ["sg"]), helper.make_node("Mul", ["a2", "sg"], ["a3"]),
             c2, helper.make_node("Gelu", ["h2"], ["a4"]), helper.make_node("Elu", ["a4"], ["a5"], alpha=0.5),
             helper.make_node("HardSigmoid", ["a5"], ["hs"], alpha=1.0 / 6.0),
             helper.make_node("Mul", ["a5", "hs"], ["a6"]),
             c3, helper.make_node("Selu", ["h3"], ["a7"]), helper.make_node("Softplus", ["a7"], ["a8"]),
             helper.make_node("HardSigmoid", ["a8"], ["a9"], alpha=0.2, beta=0.1), c4]
    slope = np.linspace(-0.3, 0.4, 8).astype(np.float32).reshape(8, 1, 1)
    return nodes, {**i1, **i2, **i3, **i4, "slope": slope}


def test_net_with_every_activation(tmp_path):
    nodes, inits = all_activations_net()
    compiled = check(nodes, [1, 3, 8, 8], inits, {"prelu", "lut"}, tmp_path, opset=20)
    assert ops_of(compiled) == ["conv", "prelu", "lut", "lut", "conv", "lut", "lut", "lut", "conv", "lut", "lut",
                                "lut", "conv"]


def test_exp_network(tmp_path):
    """Exp after a conv and before one (the exponential's calibrated range feeds the next layer)."""
    c1, i1 = conv("c1", "x", "h1", 3, 4)
    c2, i2 = conv("c2", "e", "y", 4, 2)
    check([c1, helper.make_node("Exp", ["h1"], ["e"]), c2], INPUT, {**i1, **i2}, {"lut", "conv"}, tmp_path)


@pytest.mark.parametrize("op, attrs, opset", [("HardSwish", {}, 14), ("Gelu", {}, 20), ("Elu", {}, 13)])
def test_int16_is_refused_for_table_activations(op, attrs, opset, tmp_path):
    """No int16 form (a table would need 65,536 entries, or interpolation): asking for one names the op."""
    n, inits = conv("c", "x", "h", 3, 4)
    model = make_model([n, helper.make_node(op, ["h"], ["y"], name="act", **attrs)], INPUT, inits, opset=opset)
    onnx.save(model, tmp_path / "m.onnx")
    samples = small_models.RNG.normal(0, 1, size=(8, *INPUT[1:])).astype(np.float32)
    with pytest.raises(McuqError, match=r"'act' is a \w+, which has no int16 kernel"):
        mcuq.compile(tmp_path / "m.onnx", samples, tmp_path / "out", int16_layers=["act"])


def test_int16_conv_before_a_table_activation_feeds_it_int8(tmp_path):
    """The conv runs in int16 (its int8 input converted) and the table reads its output requantized to int8."""
    n, inits = conv("c", "x", "h", 3, 4)
    model = make_model([n, helper.make_node("HardSwish", ["h"], ["y"])], INPUT, inits, opset=14)
    onnx.save(model, tmp_path / "m.onnx")
    samples = small_models.RNG.normal(0, 1, size=(16, *INPUT[1:])).astype(np.float32)
    compiled = mcuq.compile(tmp_path / "m.onnx", samples, tmp_path / "out", int16_layers=["c"])
    layers = [(layer.op.value, compiled.qmodel.tensors[layer.output].dtype) for layer in compiled.qmodel.layers]
    assert layers == [("requantize", "int16"), ("conv", "int16"), ("requantize", "int8"), ("lut", "int8")]


@pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])  # Cortex-M4, Cortex-M55
def test_net_with_every_activation_under_qemu(board, tmp_path):
    """The firmware of the every-activation net runs under QEMU; `compile` checks its outputs equal the host's."""
    from mcuq import firmware
    from mcuq.firmware.boards import get_board

    nodes, inits = all_activations_net()
    onnx.save(make_model(nodes, [1, 3, 8, 8], inits, opset=20), tmp_path / "m.onnx")
    samples = small_models.RNG.normal(0, 1, size=(40, 3, 8, 8)).astype(np.float32)
    options = firmware.FirmwareOptions(get_board(board), samples=2, extra_cflags="-Werror")
    compiled = mcuq.compile(tmp_path / "m.onnx", samples[:32], tmp_path / "out", verify_data=samples[32:],
                            firmware_options=options)
    assert compiled.firmware_run is not None
    assert "prelu" in ops_of(compiled)


def test_int16_is_refused_for_prelu(tmp_path):
    n, inits = conv("c", "x", "h", 3, 4)
    slope = np.array([0.25, -0.5, 0.0, 1.5], np.float32).reshape(4, 1, 1)
    model = make_model([n, helper.make_node("PRelu", ["h", "slope"], ["y"], name="act")], INPUT,
                       {**inits, "slope": slope})
    onnx.save(model, tmp_path / "m.onnx")
    samples = small_models.RNG.normal(0, 1, size=(8, *INPUT[1:])).astype(np.float32)
    with pytest.raises(McuqError, match=r"'act' is a prelu, which has no int16 kernel"):
        mcuq.compile(tmp_path / "m.onnx", samples, tmp_path / "out", int16_layers=["act"])
