"""The report's weight bytes are the bytes of the constant arrays the generated C declares, Add rescale
tables included (they are derived by codegen, not held in the layer's params)."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

import mcuq
from mcuq.codegen.emit import layer_views
from tests.helpers import small_models


def residual_model() -> onnx.ModelProto:
    """conv -> relu -> conv, added to the first conv's output: an int8 Add whose inputs differ in scale."""
    first, w1 = small_models.conv("c1", "x", "a", 4, 8)
    second, w2 = small_models.conv("c2", "r", "b", 8, 8)
    nodes = [first, helper.make_node("Relu", ["a"], ["r"]), second, helper.make_node("Add", ["a", "b"], ["y"])]
    return small_models.make_model(nodes, (1, 4, 8, 8), {**w1, **w2})


def declared_array_bytes(compiled) -> list[int]:
    """Per layer: the bytes of the const arrays its generated C declares."""
    views = layer_views(compiled.qmodel, compiled.plan, compiled.name)
    return [sum(array.values.nbytes for array in v.view.arrays) for v in views]


def test_report_counts_every_array_the_c_declares_add_tables_included(tmp_path):
    path = tmp_path / "residual.onnx"
    onnx.save(residual_model(), path)
    calib = np.random.default_rng(0).normal(size=(16, 4, 8, 8)).astype(np.float32)
    compiled = mcuq.compile(path, calib, tmp_path / "out")
    rows = compiled.report["layers"]
    adds = [r for r in rows if r["op"] == "add"]
    assert len(adds) == 1 and compiled.c_path.read_text().count("rescale_table[256]") == 1
    assert [r["weight_bytes"] for r in rows] == declared_array_bytes(compiled)
    assert compiled.report["totals"]["weight_bytes"] == sum(declared_array_bytes(compiled))


def test_resnet8_report_counts_its_add_tables(zoo, tmp_path):
    model = zoo / "resnet8_cifar10" / "model.onnx"
    calib = np.random.default_rng(0).uniform(0, 1, size=(16, 3, 32, 32)).astype(np.float32)
    compiled = mcuq.compile(model, calib, tmp_path / "out")
    rows = compiled.report["layers"]
    assert [r["weight_bytes"] for r in rows] == declared_array_bytes(compiled)
    tables = compiled.c_path.read_text().count("rescale_table[256]")
    assert tables == sum(r["op"] == "add" for r in rows) == 3
