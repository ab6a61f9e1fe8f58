"""The quantizers mcuq is compared with: ONNX Runtime's `quantize_static` and the TFLite converter's
int8 models (run with TensorFlow Lite Micro's Python interpreter). Each function returns the model's
float outputs on the test samples, in the ONNX output layout, so that one set of metrics covers all.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx

# ORT's quantizer asks for opset 13 or newer (per-axis QuantizeLinear); older models are converted first.
ORT_MIN_OPSET = 13


def onnx_opset(model: onnx.ModelProto) -> int:
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def ort_session(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(path: Path, samples: np.ndarray) -> np.ndarray:
    """First output of an ONNX model on each sample (ONNX layout, batch 1 per run)."""
    session = ort_session(path)
    inp = session.get_inputs()[0]
    shape = [1] + list(samples.shape[1:])
    return np.concatenate([session.run(None, {inp.name: s.reshape(shape).astype(np.float32)})[0] for s in samples])


class _Reader:
    """ORT's CalibrationDataReader protocol: one feed dict per call, None at the end."""

    def __init__(self, name: str, samples: np.ndarray):
        self.feeds = iter([{name: s[None].astype(np.float32)} for s in samples])

    def get_next(self):
        return next(self.feeds, None)


def ort_prepared_model(path: Path, folder: Path) -> tuple[Path, str | None]:
    """The model as ORT's quantizer can take it: converted to opset 13 when older (with a note saying
    so), saved with its weights inline (the external-data MNIST model included)."""
    model = onnx.load(str(path))
    note = None
    opset = onnx_opset(model)
    if opset < ORT_MIN_OPSET:
        model = onnx.version_converter.convert_version(model, ORT_MIN_OPSET)
        note = f"opset {opset} converted to {ORT_MIN_OPSET} with onnx.version_converter"
    out = folder / "float.onnx"
    onnx.save(model, str(out))
    return out, note


def ort_quantize(path: Path, calib: np.ndarray, method: str, folder: Path) -> tuple[Path, str | None]:
    """QDQ, int8 activations and weights, weights per channel, calibrated on ``calib`` with ORT's
    ``method`` (MinMax, Entropy, Percentile). Returns the QDQ model's path and a conversion note."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    prepared, note = ort_prepared_model(path, folder)
    session = ort_session(prepared)
    name = session.get_inputs()[0].name
    out = folder / f"qdq_{method}.onnx"
    quantize_static(str(prepared), str(out), _Reader(name, calib), quant_format=QuantFormat.QDQ,
                    per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod[method])
    return out, note


def ort_outputs(path: Path, calib: np.ndarray, test: np.ndarray, method: str) -> tuple[np.ndarray, str | None]:
    with tempfile.TemporaryDirectory() as tmp:
        qdq, note = ort_quantize(path, calib, method, Path(tmp))
        return run_onnx(qdq, test), note


def tflite_outputs(path: Path, test_onnx: np.ndarray, nchw_input: bool) -> np.ndarray:
    """The int8 TFLite model on float samples: quantize the input with the model's own scale and zero
    point, invoke TFLite Micro, dequantize the output. TFLite models take NHWC."""
    import tflite_micro  # its runtime is an attribute, not an importable submodule

    interpreter = tflite_micro.runtime.Interpreter.from_file(str(path))
    in_detail = interpreter.get_input_details(0)
    out_detail = interpreter.get_output_details(0)
    in_scale, in_zp = _quant(in_detail)
    out_scale, out_zp = _quant(out_detail)
    outs = []
    for sample in test_onnx:
        x = sample.transpose(1, 2, 0) if nchw_input else sample
        q = np.clip(np.round(x / in_scale) + in_zp, -128, 127).astype(np.int8)
        interpreter.set_input(q.reshape(in_detail["shape"]), 0)
        interpreter.invoke()
        y = interpreter.get_output(0).astype(np.float32)
        outs.append((y - out_zp) * out_scale)
    return np.concatenate([o.reshape(1, -1) for o in outs])


def _quant(detail: dict) -> tuple[float, int]:
    params = detail["quantization_parameters"]
    return float(params["scales"][0]), int(params["zero_points"][0])
