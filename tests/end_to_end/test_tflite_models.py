"""The TFLM user's path: the MLPerf Tiny .tflite files themselves compile to C that gives TensorFlow Lite
Micro's outputs bit for bit (int8 files), or, from the float file with calibration, the same C as the
same model compiled from ONNX."""

import numpy as np
import pytest

import mcuq
from tests.end_to_end.test_qdq_tflm import _tflm_outputs
from tests.helpers.arena_checks import assert_arena_least_then_grown

pytestmark = pytest.mark.slow


def _compile_tflite_and_compare(zoo, folder, x_int8, tmp_path):
    path = zoo / folder / "model_int8.tflite"
    compiled = mcuq.compile(path, None, tmp_path / folder, verify_data=x_int8[:100])
    c_out = compiled.run(x_int8)  # int8 in, int8 out, as the file types them
    assert c_out.dtype == np.int8
    np.testing.assert_array_equal(c_out, _tflm_outputs(path, x_int8))  # 0 LSB on every output value
    verification = compiled.report["verification"]
    assert verification["float_reference"].startswith("TensorFlow Lite Micro")
    assert verification["c_vs_golden"]["mismatches"] == 0
    assert compiled.report["calibration"]["samples"] == 0  # the file fixes every quantization
    return compiled, c_out


def test_kws_tflite_equals_tflite_micro_on_all_test_inputs(zoo, kws_data, tmp_path):
    compiled, c_out = _compile_tflite_and_compare(zoo, "kws_dscnn", kws_data["q_test"], tmp_path)
    assert len(c_out) == 800
    # TFLM's arena for this model is 24,272 B (RecordingMicroAllocator: 16,000 head + 8,272 tail).
    assert compiled.arena_size < 24_272


def test_resnet8_tflite_equals_tflite_micro_on_random_images(zoo, tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, size=(100, 32, 32, 3))
    compiled, _ = _compile_tflite_and_compare(zoo, "resnet8_cifar10", (pixels - 128).astype(np.int8), tmp_path)
    assert_arena_least_then_grown(compiled, 33_590)  # TFLite Micro: 55,984 B (see test_models.test_resnet8)


def test_resnet8_float_tflite_compiles_as_its_onnx_form_does(zoo, tmp_path):
    """The float .tflite (NHWC) and the ONNX file converted from it (NCHW), calibrated on the same images:
    each C against its own float model (TFLM, ONNX Runtime) within 0.5 dB SQNR, and the same top-1."""
    rng = np.random.default_rng(0)
    coarse = rng.uniform(0, 255, size=(140, 3, 8, 8)).astype(np.float32)
    x = np.repeat(np.repeat(coarse, 4, axis=2), 4, axis=3)  # smooth images, NCHW, 0..255
    calib, test = x[:40], x[40:]
    from_onnx = mcuq.compile(zoo / "resnet8_cifar10" / "model.onnx", calib, tmp_path / "onnx", verify_data=test)
    from_tflite = mcuq.compile(zoo / "resnet8_cifar10" / "model_float.tflite", calib.transpose(0, 2, 3, 1),
                               tmp_path / "tflite", verify_data=test.transpose(0, 2, 3, 1))
    (onnx_metrics,) = from_onnx.report["verification"]["float_metrics"]
    (tflite_metrics,) = from_tflite.report["verification"]["float_metrics"]
    assert from_tflite.report["verification"]["float_reference"].startswith("TensorFlow Lite Micro")
    assert abs(onnx_metrics["sqnr_db"] - tflite_metrics["sqnr_db"]) < 0.5, (onnx_metrics, tflite_metrics)
    assert tflite_metrics["sqnr_db"] > 15
    top1_onnx = from_onnx.run(test).argmax(axis=1)
    top1_tflite = from_tflite.run(test.transpose(0, 2, 3, 1)).argmax(axis=1)
    assert np.mean(top1_onnx == top1_tflite) >= 0.99
