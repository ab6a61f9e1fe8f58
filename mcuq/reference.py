"""The float reference: the original ONNX model run by ONNX Runtime, or by `onnx.reference` where
ONNX Runtime is absent or cannot load the model. Never mcuq's own float executor."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .data import onnx_input_shape
from .ir import Graph


def _float_runner(model_path: Path):
    """A function running the original ONNX model, and the engine's name: ONNX Runtime, or
    onnx.reference where ONNX Runtime is absent or cannot load the model (e.g. a newer IR version)."""
    reason = "ONNX Runtime is not installed"
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        # The reference is the model as written: ONNX Runtime's graph rewrites are not always
        # faithful (1.31 fuses a zero Pad into a following MaxPool, whose padding is -inf).
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
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


def float_reference(model_path: Path, graph: Graph, samples_onnx: np.ndarray) -> tuple[list[np.ndarray], str]:
    """Outputs of the original ONNX model on each sample (ONNX layout)."""
    in_shape = onnx_input_shape(graph, graph.inputs[0])
    run, engine = _float_runner(model_path)
    outs = None
    for sample in samples_onnx:
        ys = run(sample.reshape(in_shape).astype(np.float32))
        if outs is None:
            outs = [[] for _ in ys]
        for i, y in enumerate(ys):
            outs[i].append(np.asarray(y, dtype=np.float32))
    return [np.concatenate(o) for o in outs], engine
