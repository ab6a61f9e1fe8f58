"""Degenerate models: nothing but a reshape (the C only copies, or does nothing in place), and
`--int16` on a model where the passes give a moved Transpose the name of the layer next to it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq import passes
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.quant import precision
from tests.helpers.small_models import conv, make_model

RNG = np.random.default_rng(5)
SHAPE = [1, 3, 4, 5]


def axes(name, values):
    return {name: np.array(values, dtype=np.int64)}


RESHAPES = {
    "Reshape": (helper.make_node("Reshape", ["x", "shape"], ["y"]), axes("shape", [1, 12, 5])),
    "Flatten": (helper.make_node("Flatten", ["x"], ["y"], axis=2), {}),
    "Unsqueeze": (helper.make_node("Unsqueeze", ["x", "axes"], ["y"]), axes("axes", [0])),
    "Squeeze": (helper.make_node("Squeeze", ["x", "axes"], ["y"]), axes("axes", [0])),
    "Identity": (helper.make_node("Identity", ["x"], ["y"]), {}),
}


@pytest.mark.parametrize("op", sorted(RESHAPES))
def test_a_model_that_only_reshapes_compiles_and_equals_onnx_runtime(op, tmp_path):
    import onnxruntime as ort

    node, inits = RESHAPES[op]
    path = tmp_path / "m.onnx"
    onnx.save(make_model([node], SHAPE, inits), path)
    x = RNG.normal(0, 1, size=(16, *SHAPE[1:])).astype(np.float32)
    compiled = mcuq.compile(path, x, tmp_path / "out")
    assert {layer.op.value for layer in compiled.qmodel.layers} <= {"copy"}
    ref = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x[:1]})[0]
    got = compiled.run(x[:1])
    assert got.shape == ref.shape
    # Quantizing the input is the only error: half a step of the input's scale.
    step = compiled.qmodel.tensors[compiled.qmodel.inputs[0]].scale
    assert np.abs(got - ref).max() <= step / 2 + 1e-6


def transposed_sum_model():
    """Two convs whose outputs are transposed, added and given out: the passes move the Transpose
    after the Add and name it "add" too."""
    c1, i1 = conv("conv1", "x", "h1", 3, 6)
    c2, i2 = conv("conv2", "x", "h2", 3, 6)
    nodes = [c1, c2, helper.make_node("Transpose", ["h1"], ["t1"], name="t1", perm=[0, 1, 3, 2]),
             helper.make_node("Transpose", ["h2"], ["t2"], name="t2", perm=[0, 1, 3, 2]),
             helper.make_node("Add", ["t1", "t2"], ["y"], name="add")]
    return make_model(nodes, [1, 3, 8, 6], {**i1, **i2})


def test_a_name_shared_with_a_moved_transpose_means_the_layer_with_an_int16_form(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(transposed_sum_model(), path)
    graph = passes.optimize(load_onnx(path, None))
    assert sorted(n.op for n in graph.nodes if n.name == "add") == ["add", "transpose"]  # the situation
    assert precision.resolve(graph, ["add"]) == {"add"}
    by_op = {n.op: n for n in graph.nodes if n.name == "add"}
    assert precision.node_dtype(by_op["add"], frozenset({"add"}), "int8") == "int16"
    assert precision.node_dtype(by_op["transpose"], frozenset({"add"}), "int16") == "int8"


@pytest.mark.parametrize("int16", ["auto:99", "add", "conv1,conv2,add"])
def test_int16_choices_skip_the_transpose_that_shares_a_name(int16, tmp_path):
    """auto:99 chooses every layer with an int16 form; before, it chose "add" and then refused it
    ("is a transpose"), or put the transpose in int16 and emitted C that did not compile."""
    path = tmp_path / "m.onnx"
    onnx.save(transposed_sum_model(), path)
    x = RNG.normal(0, 1, size=(24, 3, 8, 6)).astype(np.float32)
    compiled = mcuq.compile(path, x[:16], tmp_path / "out", verify_data=x[16:], int16_layers=int16)
    dtypes = {(layer.name, layer.op.value): compiled.qmodel.tensors[layer.output].dtype
              for layer in compiled.qmodel.layers}
    assert dtypes[("add", "add")] == "int16" and dtypes[("add", "transpose")] == "int8"
    if int16.startswith("auto"):
        assert {row["name"] for row in compiled.report["precision"]["int16_layers"]} == {"conv1", "conv2", "add"}
    assert compiled.report["verification"]["float_metrics"][0]["sqnr_db"] > 30
