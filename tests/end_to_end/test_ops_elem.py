"""Elementwise arithmetic through the whole pipeline (issue 13): Sub and Div with a constant operand
(as the exporters write them, input normalization `(x - mean) / std` among them), Add/Mul/Sub with
a constant of any broadcastable shape, and Add/Mul/Sub of two activations that broadcast
(squeeze-excitation). Each model is compiled to C and built on the host; `mcuq.compile` fails when
the C differs from the golden model on any sample, and `check` compares the int8 result with ONNX
Runtime on the float model (SQNR and max error) and asserts which int8 ops ran."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq.errors import McuqError
from tests.end_to_end.test_ops_end_to_end import check
from tests.helpers.small_models import conv, make_model

C = 4  # channels of the activations the cases build


def firmware_tools_missing() -> bool:
    return any(shutil.which(tool) is None for tool in ("arm-none-eabi-gcc", "make", "qemu-system-arm"))


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
    # per tensor on the input: folded into its quantization where that costs no resolution (the
    # normalization tests below check both outcomes), else a 1x1 depthwise
    "sub_scalar": ("Sub", (), False, "conv"),
    "div_scalar": ("Div", (1,), False, "conv"),
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


# ---- two activations

def squeeze_excitation(order: str):
    """MobileNetV3's SE block on a conv's output h: GAP -> 1x1 conv -> ReLU -> 1x1 conv -> Sigmoid
    (HardSigmoid there) -> h * gate (``order`` "x_gate") or gate * h ("gate_x")."""
    c, ic = conv("c", "x", "h", 3, 8)
    gap = helper.make_node("GlobalAveragePool", ["h"], ["g"])
    fc1, i1 = conv("se1", "g", "s1", 8, 4, k=1, pads=[0, 0, 0, 0])
    relu = helper.make_node("Relu", ["s1"], ["r"])
    fc2, i2 = conv("se2", "r", "s2", 4, 8, k=1, pads=[0, 0, 0, 0])
    gate = helper.make_node("Sigmoid", ["s2"], ["gate"])
    mul = binary("Mul", "h", "gate", "m") if order == "x_gate" else binary("Mul", "gate", "h", "m")
    out, io = conv("o", "m", "y", 8, 3, k=1, pads=[0, 0, 0, 0])
    return [c, gap, fc1, relu, fc2, gate, mul, out], [1, 3, 8, 8], {**ic, **i1, **i2, **io}, {"broadcast_mul"}


def per_pixel(op: str, order: str):
    """[N,C,H,W] op [N,1,H,W]: a conv with one output channel broadcast over the channels."""
    a, ia = conv("a", "x", "ha", 3, C)
    b, ib = conv("b", "x", "hb", 3, 1)
    node = binary(op, "ha", "hb") if order == "x_map" else binary(op, "hb", "ha")
    return [a, b, node], [1, 3, 6, 6], {**ia, **ib}, {"broadcast_add" if op != "Mul" else "broadcast_mul"}


def per_channel(op: str, order: str):
    """[N,C,H,W] op [N,C,1,1] of two activations (the second a global average pool)."""
    a, ia = conv("a", "x", "ha", 3, C)
    gap = helper.make_node("GlobalAveragePool", ["ha"], ["g"])
    node = binary(op, "ha", "g") if order == "x_gate" else binary(op, "g", "ha")
    return [a, gap, node], [1, 3, 6, 6], ia, {"broadcast_add" if op != "Mul" else "broadcast_mul"}


def same_shape_sub():
    a, ia = conv("a", "x", "ha", 3, C)
    b, ib = conv("b", "x", "hb", 3, C)
    return [a, b, binary("Sub", "ha", "hb")], [1, 3, 6, 6], {**ia, **ib}, {"add"}


ACTIVATION_CASES = {
    "se_x_times_gate": lambda: squeeze_excitation("x_gate"),
    "se_gate_times_x": lambda: squeeze_excitation("gate_x"),
    "sub_same_shape": same_shape_sub,
    **{f"{op.lower()}_{order}": (lambda op=op, order=order: per_pixel(op, order))
       for op in ("Add", "Sub", "Mul") for order in ("x_map", "map_x")},
    **{f"{op.lower()}_{order}": (lambda op=op, order=order: per_channel(op, order))
       for op in ("Add", "Sub", "Mul") for order in ("x_gate", "gate_x")},
}


@pytest.mark.parametrize("case", sorted(ACTIVATION_CASES))
def test_two_activations(case, tmp_path):
    check(*ACTIVATION_CASES[case](), tmp_path)


# ---- input normalization

@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (3, 1, 1)])
def test_input_normalization_per_channel(shape, tmp_path):
    """(x - mean) / std at the model input, as torchvision preprocessing baked into an export, with
    ImageNet's per-channel constants ([1,3,1,1] or [3,1,1]): one 1x1 depthwise layer."""
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(shape)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(shape)
    sub, div = binary("Sub", "x", "mean", "centred"), binary("Div", "centred", "std", "normed")
    n, ic = conv("c", "normed", "y", 3, 4)
    check([sub, div, n], [1, 3, 8, 8], {"mean": mean, "std": std, **ic}, {"depthwise_conv", "conv"}, tmp_path)


@pytest.mark.parametrize("mean, std", [(0.45, 0.226), (-0.3, 2.0), (0.0, 0.5)])
def test_input_normalization_per_tensor_is_the_input_quantization(mean, std, tmp_path):
    """(x - mean) / std with one mean and std: no layer, the input's int8 values are the normalized
    tensor's (a byte copy, in place), on a grid whose step divides the shift; the C input's scale and
    zero point are x's, so every int8 value means the same real y read either way."""
    sub, div = binary("Sub", "x", "mean", "centred"), binary("Div", "centred", "std", "normed")
    n, ic = conv("c", "normed", "y", 3, 4)
    inits = {"mean": np.float32(mean), "std": np.float32(std), **ic}
    check([sub, div, n], [1, 3, 8, 8], inits, {"copy", "conv"}, tmp_path)
    compiled = compile_case([sub, div, n], [1, 3, 8, 8], inits, tmp_path / "again")
    ops = [layer.op.value for layer in compiled.qmodel.layers]
    assert "depthwise_conv" not in ops, ops
    fold = next(layer for layer in compiled.qmodel.layers if layer.op.value == "copy")
    x, y = (compiled.qmodel.tensors[name] for name in (fold.inputs[0], fold.output))
    q = np.arange(-128, 128, dtype=np.float64)
    via_x = ((q - x.zero_point) * x.scale - mean) / std
    via_y = (q - y.zero_point) * y.scale
    assert np.abs(via_x - via_y).max() <= 1e-5 * np.abs(via_y).max()
    assert compiled.report["verification"]["float_metrics"][0]["sqnr_db"] > 30


def test_input_normalization_not_folded_where_it_would_coarsen_the_input(tmp_path):
    """Images in [0, 1] with a mean of -0.3 outside them: a grid holding x = 0 and y = 0 (x = -0.3)
    would be a third coarser than x's own, so the normalization stays a 1x1 depthwise layer."""
    sub, div = binary("Sub", "x", "mean", "centred"), binary("Div", "centred", "std", "normed")
    n, ic = conv("c", "normed", "y", 3, 4)
    inits = {"mean": np.float32(-0.3), "std": np.float32(2.0), **ic}
    images = np.random.default_rng(1).uniform(0, 1, size=(96, 3, 8, 8)).astype(np.float32)
    compiled = compile_case([sub, div, n], [1, 3, 8, 8], inits, tmp_path, images)
    assert "depthwise_conv" in {layer.op.value for layer in compiled.qmodel.layers}


def compile_case(nodes, input_shape, inits, folder, samples=None):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "m.onnx"
    onnx.save(make_model(nodes, input_shape, inits), path)
    if samples is None:
        samples = np.random.default_rng(1).normal(0, 1, size=(96, *input_shape[1:])).astype(np.float32)
    return mcuq.compile(path, samples[:64], folder / "out", verify_data=samples[64:])


# ---- refusals

@pytest.mark.parametrize("nodes, inits, words", [
    ([binary("Div", "x", "x", "y")], {}, "division by an activation"),
    ([binary("Div", "k", "x", "y")], {"k": np.ones((1, 3, 1, 1), np.float32)}, "c / x"),
    ([binary("Div", "x", "k", "y")], {"k": np.array([1, 0, 2], np.float32).reshape(1, 3, 1, 1)}, "holds 0"),
])
def test_refused_with_the_reason(nodes, inits, words, tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(make_model(nodes, [1, 3, 4, 4], inits), path)
    samples = np.random.default_rng(0).normal(size=(8, 3, 4, 4)).astype(np.float32)
    with pytest.raises(McuqError, match=words):
        mcuq.compile(path, samples, tmp_path / "out")


def test_int16_refused_for_a_broadcasting_add(tmp_path):
    """The int16 Add kernel takes two activations of one shape: asking int16 for a broadcasting Add
    names the layer and says to keep it int8."""
    nodes, input_shape, inits, _ = per_pixel("Add", "x_map")
    path = tmp_path / "m.onnx"
    onnx.save(make_model(nodes, input_shape, inits), path)
    samples = np.random.default_rng(0).normal(size=(8, *input_shape[1:])).astype(np.float32)
    with pytest.raises(McuqError, match="layer 'y' is a add, which has no int16 kernel.*keep it int8"):
        mcuq.compile(path, samples, tmp_path / "out", int16_layers=["y"])


@pytest.mark.skipif(firmware_tools_missing(), reason="arm-none-eabi-gcc, make or qemu-system-arm missing")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_firmware_equals_the_host(board, tmp_path):
    """A model with all of it (per-tensor input normalization folded into the input, a learned
    [1,C,H,W] offset, an SE block, a per-pixel Sub) built for the M4 (DSP) and M55 (MVE) boards: the
    firmware's outputs under QEMU equal the host build's (`compile` checks every sample)."""
    from mcuq import firmware
    from mcuq.firmware.boards import get_board

    se, input_shape, inits, _ = squeeze_excitation("x_gate")
    norm = [binary("Sub", "x", "mean", "centred"), binary("Div", "centred", "std", "normed")]
    se[0] = helper.make_node("Conv", ["normed", *se[0].input[1:]], list(se[0].output), **{
        a.name: helper.get_attribute_value(a) for a in se[0].attribute})
    offsets = binary("Add", "y", "offsets", "shifted")
    pixel, ip = conv("p", "shifted", "map", 3, 1)
    sub = binary("Sub", "shifted", "map", "out")
    inits = {**inits, **ip, "mean": np.float32(0.45), "std": np.float32(0.226),
             "offsets": const(1, 3, *input_shape[2:])}
    path = tmp_path / "m.onnx"
    onnx.save(make_model([*norm, *se, offsets, pixel, sub], input_shape, inits, ("out",)), path)
    x = np.random.default_rng(2).uniform(0, 1, size=(40, *input_shape[1:])).astype(np.float32)
    options = firmware.FirmwareOptions(get_board(board), samples=2, extra_cflags="-Werror")
    compiled = mcuq.compile(path, x[:32], tmp_path / "out", verify_data=x[32:], firmware_options=options)
    ops = {layer.op.value for layer in compiled.qmodel.layers}
    assert {"copy", "broadcast_mul", "broadcast_add"} <= ops and "depthwise_conv" not in ops, ops
    run = compiled.report["firmware"]["run"]
    assert run["exit_status"] == 0 and run["mismatches"] == []
    assert compiled.report["verification"]["float_metrics"][0]["sqnr_db"] > 20
