"""The command line: the main job on the bundled example, and a clear error (no traceback, nothing
of the user's lost) for each kind of bad input."""

import json
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from tests.helpers.paths import REPO

EXAMPLE = REPO / "examples" / "digits"


def mcuq(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "mcuq", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd)


def _relu_model(path, input_dims, op="Relu"):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, input_dims)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="the_node")], "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # readable by ONNX Runtime releases of the last years
    onnx.save(model, path)
    return path


@pytest.mark.slow
def test_compile_bundled_example(tmp_path):
    out = tmp_path / "out"
    result = mcuq("compile", EXAMPLE / "digits_cnn.onnx", "--calib", EXAMPLE / "calib.npy", "-o", out,
                  "--name", "digits")
    assert result.returncode == 0, result.stderr
    assert "bit-exact" in result.stdout
    for f in ("digits.c", "digits.h", "report.md", "report.json"):
        assert (out / f).is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["verification"]["c_vs_golden"]["mismatches"] == 0
    assert report["totals"]["arena_bytes"] > 0
    header = (out / "digits.h").read_text()
    for macro in ("DIGITS_INPUT_SIZE 64", "DIGITS_OUTPUT_SIZE 10", "DIGITS_ARENA_SIZE", "DIGITS_INPUT_SCALE",
                  "DIGITS_OUTPUT_ZERO_POINT -128", "int digits_invoke(const int8_t *input0, int8_t *output0);"):
        assert macro in header
    # Deterministic: the same job writes the same bytes.
    again = mcuq("compile", EXAMPLE / "digits_cnn.onnx", "--calib", EXAMPLE / "calib.npy", "-o",
                 tmp_path / "again", "--name", "digits")
    assert again.returncode == 0, again.stderr
    for f in ("digits.c", "digits.h"):
        assert (out / f).read_bytes() == (tmp_path / "again" / f).read_bytes()


def test_quantization_options_reach_the_report(tmp_path):
    out = tmp_path / "out"
    result = mcuq("compile", EXAMPLE / "digits_cnn.onnx", "--calib", EXAMPLE / "calib.npy", "-o", out, "-q",
                  "--calib-method", "mse", "--bias-correction", "--equalize")
    assert result.returncode == 0, result.stderr
    calibration = json.loads((out / "report.json").read_text())["calibration"]
    assert calibration["method"] == "mse" and calibration["bias_correction"] and calibration["equalization"]
    assert calibration["equalized_pairs"] == []  # conv -> max pool -> conv: no pair to balance
    assert "bias correction on; cross-layer equalization on (0 layer pairs)" in (out / "report.md").read_text()


def _error(result):
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def test_not_an_onnx_file(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"this is not a protobuf \x00\xff\x13")
    msg = _error(mcuq("compile", bad, "--calib", EXAMPLE / "calib.npy", "-o", tmp_path / "o"))
    assert "bad.onnx" in msg


def test_missing_model_file(tmp_path):
    msg = _error(mcuq("compile", tmp_path / "nope.onnx", "--calib", EXAMPLE / "calib.npy", "-o", tmp_path / "o"))
    assert "does not exist" in msg


def test_unsupported_op_names_node_op_and_the_supported_ones(tmp_path):
    model = _relu_model(tmp_path / "m.onnx", [1, 4], op="Erf")
    np.save(tmp_path / "c.npy", np.zeros((2, 4), np.float32))
    msg = _error(mcuq("compile", model, "--calib", tmp_path / "c.npy", "-o", tmp_path / "o"))
    assert "the_node" in msg and "Erf" in msg and "Conv" in msg


def test_dynamic_shape_needs_input_shape(tmp_path):
    model = _relu_model(tmp_path / "m.onnx", [1, "length", 4])
    np.save(tmp_path / "c.npy", np.zeros((2, 5, 4), np.float32))
    msg = _error(mcuq("compile", model, "--calib", tmp_path / "c.npy", "-o", tmp_path / "o"))
    assert "--input-shape" in msg
    ok = mcuq("compile", model, "--calib", tmp_path / "c.npy", "-o", tmp_path / "o2", "--input-shape", "x:1,5,4")
    assert ok.returncode == 0, ok.stderr


def test_calibration_data_of_the_wrong_shape(tmp_path):
    np.save(tmp_path / "c.npy", np.zeros((10, 1, 7, 7), np.float32))
    msg = _error(mcuq("compile", EXAMPLE / "digits_cnn.onnx", "--calib", tmp_path / "c.npy", "-o", tmp_path / "o"))
    assert "(1, 8, 8)" in msg and "(1, 7, 7)" in msg
    assert not (tmp_path / "o").exists()  # nothing is written when the input is refused


def test_calibration_data_with_nan(tmp_path):
    data = np.zeros((10, 1, 8, 8), np.float32)
    data[3, 0, 2, 2] = np.nan
    np.save(tmp_path / "c.npy", data)
    msg = _error(mcuq("compile", EXAMPLE / "digits_cnn.onnx", "--calib", tmp_path / "c.npy", "-o", tmp_path / "o"))
    assert "NaN" in msg and "sample 3" in msg


def test_calibration_data_of_the_wrong_dtype(tmp_path):
    np.save(tmp_path / "c.npy", np.array([["a"] * 64] * 2).reshape(2, 1, 8, 8))
    msg = _error(mcuq("compile", EXAMPLE / "digits_cnn.onnx", "--calib", tmp_path / "c.npy", "-o", tmp_path / "o"))
    assert "dtype" in msg


def test_existing_output_folder_is_not_overwritten_without_force(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "digits_cnn.c").write_text("my own work")
    msg = _error(mcuq("compile", EXAMPLE / "digits_cnn.onnx", "--calib", EXAMPLE / "calib.npy", "-o", out))
    assert "--force" in msg
    assert (out / "digits_cnn.c").read_text() == "my own work"


def test_force_leaves_other_files_alone(tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    result = mcuq("compile", EXAMPLE / "digits_cnn.onnx", "--calib", EXAMPLE / "calib.npy", "-o", out, "--force")
    assert result.returncode == 0, result.stderr
    assert (out / "notes.txt").read_text() == "keep me"
    assert (out / "digits_cnn.c").is_file()


def test_pre_quantized_model_needs_no_calibration_data(tmp_path):
    from tests.helpers.qdq_models import int8_io_dense_model

    model, _ = int8_io_dense_model()
    onnx.save(model, tmp_path / "qdq.onnx")
    result = mcuq("compile", tmp_path / "qdq.onnx", "-o", tmp_path / "out", "-q")
    assert result.returncode == 0, result.stderr
    assert "64 samples: bit-exact" in result.stdout
    assert "int8 vs ONNX Runtime" in result.stdout and "max" in result.stdout
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["verification"]["data"] == "64 random inputs (no data given)"
    assert report["inputs"][0]["zero_point"] == -5  # the file's int8 input quantization


def test_float_model_without_calibration_data(tmp_path):
    msg = _error(mcuq("compile", EXAMPLE / "digits_cnn.onnx", "-o", tmp_path / "o"))
    assert "no quantization" in msg and "--calib" in msg
    assert not (tmp_path / "o").exists()
