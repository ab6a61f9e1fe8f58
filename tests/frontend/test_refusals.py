"""The frontend's refusals: one UnsupportedModelError lists every node mcuq cannot compile, each with where
a person finds it (its place, the torch module the dynamo exporter records, the tensor it reads) and why,
with the fix for ops that are supported in another form; a bug in a handler is not taken for a refusal."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

from mcuq.errors import UnsupportedModelError, UnsupportedOpError
from mcuq.frontend import onnx_loader
from mcuq.frontend.onnx_loader import HANDLERS, load_onnx
from tests.frontend.test_frontend import build_model


def with_torch_scope(node: onnx.NodeProto, scopes: str, classes: str) -> onnx.NodeProto:
    """``node`` with the metadata torch.onnx.export(dynamo=True) writes on every node."""
    for key, value in ((onnx_loader.TORCH_SCOPES_KEY, scopes), (onnx_loader.TORCH_CLASSES_KEY, classes)):
        entry = node.metadata_props.add()
        entry.key, entry.value = key, value
    return node


def three_refused_nodes() -> list[onnx.NodeProto]:
    """Sin and Floor (no handler; Floor reads the output of the refused Sin) and a reflect Pad (a handler
    that refuses an attribute value), named as the dynamo exporter names nodes."""
    sin = with_torch_scope(helper.make_node("Sin", ["r"], ["s"], name="node_sin"),
                           "['', 'block', 'block.act', 'sin']", "['m.Net', 'm.Block', 'm.Act', 'aten.sin.default']")
    return [helper.make_node("Relu", ["x"], ["r"], name="node_relu"), sin,
            helper.make_node("Floor", ["s"], ["f"], name="node_floor"),
            helper.make_node("Pad", ["f", "pads"], ["y"], mode="reflect", name="n0")]


def test_every_refused_node_is_listed_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "three.onnx"
    pads = np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)
    onnx.save(build_model(three_refused_nodes(), {"x": [1, 2, 4, 4]}, {"pads": pads}, opset=18), path)
    with pytest.raises(UnsupportedModelError) as raised:
        load_onnx(path)
    message = str(raised.value)
    lines = message.splitlines()
    assert lines[0] == "3 nodes of the model cannot be compiled:"
    sin, floor, pad = lines[1:4]
    # The dynamo exporter's metadata survives the conversion to opset 21 and names the module.
    assert sin.startswith("  node 'node_sin' (node 2 of 4, in module 'block.act' (Act), reads tensor 'r'): "
                          "op 'Sin' is not supported")
    assert floor.startswith("  node 'node_floor' (node 3 of 4, reads tensor 's'): op 'Floor' is not supported")
    assert pad.startswith("  node 'n0' (node 4 of 4, reads tensor 'f'): op 'Pad' is not supported (mode='reflect'")
    assert lines[4] == "supported ops: " + ", ".join(sorted(HANDLERS))
    assert [error.node for error, _ in raised.value.refusals] == ["node_sin", "node_floor", "n0"]
    assert isinstance(raised.value, UnsupportedOpError) and raised.value.node == "node_sin"


def test_one_refusal_reads_as_one_line(tmp_path: Path) -> None:
    path = tmp_path / "one.onnx"
    onnx.save(build_model([helper.make_node("Sin", ["x"], ["y"], name="s")], {"x": [1, 4]}), path)
    with pytest.raises(UnsupportedModelError) as raised:
        load_onnx(path)
    assert str(raised.value).startswith("node 's' (node 1 of 1, reads graph input 'x'): op 'Sin' is not supported. "
                                        "supported ops: ")


def test_an_op_supported_in_another_form_gets_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "gmp.onnx"
    nodes = [helper.make_node("GlobalMaxPool", ["x"], ["y"], name="gmp")]
    onnx.save(build_model(nodes, {"x": [1, 3, 4, 4]}), path)
    with pytest.raises(UnsupportedModelError, match=r"'GlobalMaxPool' is not supported \(export a MaxPool over "
                                                    r"the whole H x W"):
        load_onnx(path)


def test_a_rank3_conv_with_activation_weights_is_refused_by_the_2d_handler(tmp_path: Path) -> None:
    path = tmp_path / "conv1d.onnx"
    nodes = [helper.make_node("Conv", ["x", "wt"], ["y"], kernel_shape=[3], name="c")]
    onnx.save(build_model(nodes, {"x": [1, 2, 9], "wt": [4, 2, 3]}), path)
    with pytest.raises(UnsupportedModelError, match="'c'.*'Conv'.*the weights \\(input 1\\) must be a constant"):
        load_onnx(path)


def test_a_bug_in_a_handler_is_not_taken_for_a_refusal(tmp_path: Path, monkeypatch) -> None:
    def broken(b, node):
        raise KeyError("a bug")

    monkeypatch.setitem(HANDLERS, "Relu", broken)
    path = tmp_path / "bug.onnx"
    nodes = [helper.make_node("Sin", ["x"], ["s"]), helper.make_node("Relu", ["x"], ["y"])]
    onnx.save(build_model(nodes, {"x": [1, 4]}, outputs=("y", "s")), path)
    with pytest.raises(KeyError, match="a bug"):
        load_onnx(path)


def test_model_supplied_names_cannot_forge_lines_of_the_message(tmp_path: Path) -> None:
    """Names and torch metadata come from the file: each refusal stays on its own line."""
    sin = with_torch_scope(helper.make_node("Sin", ["x"], ["s"], name="a\nerror: forged"),
                           "['', 'm\\nforged', 'sin']", "['m.Net', 'm.Evil\\nerror: forged\\x1b[2J', 'aten.sin']")
    path = tmp_path / "hostile.onnx"
    onnx.save(build_model([sin, helper.make_node("Cos", ["s"], ["y"], name="c")], {"x": [1, 4]}), path)
    with pytest.raises(UnsupportedModelError) as raised:
        load_onnx(path)
    lines = str(raised.value).splitlines()
    assert len(lines) == 4 and not any(line.startswith("error:") for line in lines)
    assert "\x1b" not in str(raised.value)
    assert "in module 'm\\nforged' (Evil?error??forged??2J)" in lines[1]
