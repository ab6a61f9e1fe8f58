"""Bit-exactness with TensorFlow Lite Micro: the C that mcuq generates from a tf2onnx QDQ export of an
int8 TFLite model gives exactly TFLM's outputs (pip ``tflite-micro``, reference kernels) for the
TFLite model itself, on every input."""

import numpy as np
import pytest

import mcuq

pytestmark = pytest.mark.slow


def _tflm_outputs(tflite_path, inputs: np.ndarray) -> np.ndarray:
    from tflite_micro.python.tflite_micro import runtime  # the test extra installs it: no skip

    interpreter = runtime.Interpreter.from_file(str(tflite_path))
    outs = []
    for x in inputs:
        interpreter.set_input(x[None], 0)
        interpreter.invoke()
        outs.append(interpreter.get_output(0).copy())
    return np.concatenate(outs)


def _compile_and_compare(zoo, folder, x_int8, tmp_path):
    # compile() checks C against the golden model on the samples it verifies on (a subset, for time);
    # the generated C then runs on all of them.
    compiled = mcuq.compile(zoo / folder / "model_int8_qdq.onnx", None, tmp_path / folder, verify_data=x_int8[:100])
    c_out = compiled.run(x_int8)  # int8 in, int8 out: the file's own input and output types
    assert c_out.dtype == np.int8
    tflm = _tflm_outputs(zoo / folder / "model_int8.tflite", x_int8)
    np.testing.assert_array_equal(c_out, tflm)  # 0 LSB on every output value
    return compiled, c_out


def test_kws_qdq_equals_tflite_micro_on_all_test_inputs(zoo, kws_data, tmp_path):
    compiled, c_out = _compile_and_compare(zoo, "kws_dscnn", kws_data["q_test"], tmp_path)
    assert len(c_out) == 800
    assert compiled.report["calibration"]["samples"] == 0  # no calibration: the file fixes everything
    assert compiled.report["verification"]["c_vs_golden"]["mismatches"] == 0
    # Top-1 of the int8 outputs (ties go to the first class, as numpy's argmax does).
    assert abs(np.mean(c_out.argmax(axis=1) == kws_data["y_test"]) - 0.8975) < 1e-9


def test_resnet8_qdq_equals_tflite_micro_on_random_images(zoo, tmp_path):
    # No CIFAR-10 images in the zoo: random pixels 0..255, which the model's int8 input (scale 1,
    # zero point -128) holds as pixel - 128.
    pixels = np.random.default_rng(0).integers(0, 256, size=(100, 32, 32, 3))
    _compile_and_compare(zoo, "resnet8_cifar10", (pixels - 128).astype(np.int8), tmp_path)
