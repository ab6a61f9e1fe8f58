"""The quantizers mcuq is compared with: ONNX Runtime's `quantize_static` and the TFLite converter's
int8 models (run with TensorFlow Lite Micro's Python interpreter). Each function returns the model's
float outputs on the test samples, in the ONNX output layout, so that one set of metrics covers all.
"""

from __future__ import annotations

import contextlib
import sys
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


def topologically_sorted(graph: onnx.GraphProto) -> bool:
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    for node in graph.node:
        if not set(node.input) <= known:
            return False
        known.update(node.output)
    return True


def sort_nodes(graph: onnx.GraphProto) -> None:
    """Reorder the nodes so that each comes after the producers of its inputs (in place)."""
    known = {i.name for i in graph.input} | {t.name for t in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if set(n.input) <= known]
        if not ready:
            raise ValueError("the ONNX graph has a cycle or reads a tensor nothing produces")
        for node in ready:
            known.update(node.output)
        ordered += ready
        pending = [n for n in pending if not any(n is r for r in ready)]
    copies = [onnx.NodeProto() for _ in ordered]
    for copy, node in zip(copies, ordered):
        copy.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


def ort_prepared_model(path: Path, folder: Path) -> tuple[Path, list[str]]:
    """The model as ORT's quantizer can take it: nodes in topological order, opset 13 or newer, weights
    inline (the external-data MNIST model included); with a note for each change made."""
    model = onnx.load(str(path))
    notes = []
    if not topologically_sorted(model.graph):
        sort_nodes(model.graph)
        notes.append("For ORT the model's nodes were put in topological order first: unsorted, "
                     "`quantize_static` fails (\"Only an existing tensor can be modified\").")
    opset = onnx_opset(model)
    if opset < ORT_MIN_OPSET:
        model = onnx.version_converter.convert_version(model, ORT_MIN_OPSET)
        notes.append(
            f"For ORT the model was converted from opset {opset} to {ORT_MIN_OPSET} with onnx.version_converter "
            "first. Without it (seen on the opset-9 MNIST model) `quantize_static` rewrites the opset to 11 "
            "with a warning, and ONNX Runtime then refuses to load the per-channel QDQ model it wrote "
            "(\"Unrecognized attribute: axis for operator DequantizeLinear\")."
        )
    out = folder / "float.onnx"
    onnx.save(model, str(out))
    return out, notes


def ort_quantize(path: Path, calib: np.ndarray, method: str, folder: Path) -> tuple[Path, list[str]]:
    """QDQ, int8 activations and weights, weights per channel, calibrated on ``calib`` with ORT's
    ``method`` (MinMax, Entropy, Percentile). Returns the QDQ model's path and notes on what was changed."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    prepared, notes = ort_prepared_model(path, folder)
    session = ort_session(prepared)
    name = session.get_inputs()[0].name
    out = folder / f"qdq_{method}.onnx"
    with contextlib.redirect_stdout(sys.stderr):  # its histogram calibrators print progress
        quantize_static(str(prepared), str(out), _Reader(name, calib), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod[method])
    return out, notes


def ort_outputs(path: Path, calib: np.ndarray, test: np.ndarray, method: str) -> tuple[np.ndarray, list[str]]:
    with tempfile.TemporaryDirectory() as tmp:
        qdq, notes = ort_quantize(path, calib, method, Path(tmp))
        return run_onnx(qdq, test), notes


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
