"""The float reference: the original ONNX model run by ONNX Runtime, or by `onnx.reference` where
ONNX Runtime is absent or cannot load the model. Never mcuq's own float executor.

A pre-quantized (QDQ) model is run as it is, its int8 inputs fed with the int8 values that the
generated C gets; its int8 outputs come back as int8 and are dequantized here with the file's
scale and zero point (``reference_outputs`` keeps them for an LSB comparison)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mcuq.data import onnx_input_shape
from mcuq.errors import McuqError
from mcuq.frontend.tflite_loader import is_tflite, read_tflite
from mcuq.ir.graph import Graph
from mcuq.quant.lower import dequantize, quantize_input


def _float_runner(model_path: Path):
    """A function running the original model, and the engine's name: for ONNX, ONNX Runtime, or
    onnx.reference where ONNX Runtime is absent or cannot load the model (e.g. a newer IR version); for
    TFLite, TensorFlow Lite Micro."""
    if is_tflite(model_path):
        return _tflite_runner(model_path)
    reason = "ONNX Runtime is not installed"
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # The reference is the model as written: ONNX Runtime's graph rewrites are not always
        # faithful (1.31 fuses a zero Pad into a following MaxPool, whose padding is -inf).
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        # One thread, as numpy's BLAS during a compile (`pipeline.one_blas_thread`): on a busy machine its
        # pool's threads wait for time slices instead of helping.
        options.intra_op_num_threads = 1
        session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return (lambda x: session.run(None, {name: x})), f"ONNX Runtime {ort.__version__}"
    except ImportError:
        pass
    except Exception as exc:  # noqa: BLE001 - any load failure: fall back to the reference evaluator
        reason = f"ONNX Runtime could not load the model: {str(exc).splitlines()[-1][:200]}"
    import onnx
    from onnx.reference import ReferenceEvaluator

    evaluator = ReferenceEvaluator(onnx.load(str(model_path)))
    name = evaluator.input_names[0]
    return (lambda x: evaluator.run(None, {name: x})), f"onnx.reference ({reason})"


def _tflite_runner(model_path: Path):
    """TensorFlow Lite Micro's interpreter (pip ``tflite-micro``, in mcuq's ``tflite`` extra), one sample at a
    time as it runs on a device."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise McuqError("verifying a .tflite model runs it with TensorFlow Lite Micro as the reference: "
                        "pip install 'mcuq[tflite]' (or pip install tflite-micro)") from None
    interpreter = runtime.Interpreter.from_file(str(model_path))
    outputs = range(len(read_tflite(model_path).outputs))

    def run(x: np.ndarray) -> list[np.ndarray]:
        interpreter.set_input(x.astype(interpreter.get_input_details(0)["dtype"]), 0)
        interpreter.invoke()
        return [interpreter.get_output(i).copy() for i in outputs]

    return run, f"TensorFlow Lite Micro {_version('tflite-micro')}"


def _version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "(version unknown)"


def reference_outputs(model_path: Path, graph: Graph, samples_onnx: np.ndarray) -> tuple[list[np.ndarray], str]:
    """Outputs of the original ONNX model on each sample (real-valued, ONNX layout), as the model
    file types them: float32, or int8 for the outputs of a pre-quantized model."""
    name = graph.inputs[0]
    in_shape = onnx_input_shape(graph, name)
    run, engine = _float_runner(model_path)
    outs = None
    for sample in samples_onnx:
        x = sample.reshape(in_shape).astype(np.float32)
        if name in graph.io_quant:
            x = quantize_input(x, *graph.io_quant[name])
        ys = run(x)
        if outs is None:
            outs = [[] for _ in ys]
        for i, y in enumerate(ys):
            outs[i].append(np.asarray(y))
    return [np.concatenate(o) for o in outs], engine


def float_reference(model_path: Path, graph: Graph, samples_onnx: np.ndarray) -> tuple[list[np.ndarray], str]:
    """Outputs of the original ONNX model on each sample (ONNX layout), real values as float32."""
    outs, engine = reference_outputs(model_path, graph, samples_onnx)
    return real_outputs(graph, outs), engine


def real_outputs(graph: Graph, outs: list[np.ndarray]) -> list[np.ndarray]:
    """Reference outputs as real values: int8 outputs of a pre-quantized model dequantized."""
    return [dequantize(y, *graph.io_quant[name]) if name in graph.io_quant else y.astype(np.float32)
            for name, y in zip(graph.outputs, outs)]
