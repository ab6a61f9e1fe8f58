"""`mcuq inspect MODEL`: without calibration data, in about a second, whether the model compiles (else every
node that does not), MACs and weight bytes per layer, and the arena `compile` plans."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import helper

import mcuq
from mcuq.inspection import inspect_model
from tests.frontend.test_frontend import build_model


def mcuq_cli(*args):
    return subprocess.run([sys.executable, "-m", "mcuq", *map(str, args)], capture_output=True, text=True)


@pytest.mark.parametrize("model, calib", [
    ("kws_dscnn/model.onnx", lambda d: d["x_calib"][:50]),
    ("resnet8_cifar10/model.onnx", lambda _: np.random.default_rng(1).uniform(0, 255, (16, 3, 32, 32))),
])
def test_the_arena_is_the_one_compile_plans(zoo, kws_data, model, calib, tmp_path):
    inspected = inspect_model(zoo / model)
    compiled = mcuq.compile(zoo / model, calib(kws_data).astype(np.float32), tmp_path / "out")
    assert inspected.supported
    assert inspected.arena_bytes == compiled.arena_size
    assert inspected.macs == compiled.report["totals"]["macs"]
    assert inspected.weight_bytes == compiled.report["totals"]["weight_bytes"]
    assert [layer["op"] for layer in inspected.layers] == [layer["op"] for layer in compiled.report["layers"]]


def test_cli_prints_layers_and_totals(zoo):
    # How long it takes (about 1 s here, most of it importing onnx and numpy) is measured by
    # benchmarks/compile_time.py's "inspect s" column, not asserted: a wall-clock bound fails on a loaded machine.
    result = mcuq_cli("inspect", zoo / "kws_dscnn" / "model.onnx")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "model.onnx: every node compiles (13 int8 layers)"
    assert lines[-1].startswith("total: MACs 2,656,768, weights ") and " B (int8), arena " in lines[-1]


def test_cli_lists_every_unsupported_node_and_fails(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sin", ["r"], ["s"], name="first"),
             helper.make_node("Cos", ["s"], ["c"], name="second"), helper.make_node("Floor", ["c"], ["y"], name="third")]
    path = tmp_path / "trig.onnx"
    onnx.save(build_model(nodes, {"x": [1, 4]}), path)
    result = mcuq_cli("inspect", path)
    assert result.returncode == 2
    lines = result.stdout.splitlines()
    assert lines[0] == "trig.onnx: does not compile: 3 nodes of the model cannot be compiled:"
    assert [line.split("'")[1] for line in lines[1:4]] == ["first", "second", "third"]
    assert "'Sin'" in lines[1] and "'Cos'" in lines[2] and "'Floor'" in lines[3]


def test_cli_reports_a_bad_file_as_an_error(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    result = mcuq_cli("inspect", path)
    assert result.returncode == 2 and "error: " in result.stderr and "empty" in result.stderr
