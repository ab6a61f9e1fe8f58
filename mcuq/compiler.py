"""The whole job, stage after stage: load -> optimize -> calibrate -> quantize -> plan -> emit ->
host build -> verify -> report. `compile()` is the Python API; the CLI is a thin layer over it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import __version__, calibrate, codegen, data, golden, passes, quant, report, verify
from .errors import CalibrationError, McuqError, ModelError, OutputExistsError, VerificationError
from .frontend.onnx_loader import load_onnx
from .host import HostModel
from .ir import Graph
from .plan import ArenaPlan, plan_arena
from .qir import QModel

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def onnx_input_shape(graph: Graph, name: str) -> tuple[int, ...]:
    """The input's shape in the ONNX layout (the IR may hold it channels-last)."""
    ir_shape = graph.tensors[name].shape
    perm = graph.input_perms.get(name)
    if perm is None:
        return tuple(ir_shape)
    shape = [0] * len(ir_shape)
    for i, p in enumerate(perm):
        shape[p] = ir_shape[i]
    return tuple(shape)


def quantize_input(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float -> int8 exactly as the generated C does it: float32 division, round half away from zero."""
    scaled = np.clip(np.float32(x) / np.float32(scale), -1000.0, 1000.0).astype(np.float32)
    rounded = np.where(scaled >= 0, np.floor(scaled + np.float32(0.5)), np.ceil(scaled - np.float32(0.5)))
    return np.clip(rounded.astype(np.int32) + zero_point, -128, 127).astype(np.int8)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    return ((q.astype(np.int32) - zero_point) * np.float32(scale)).astype(np.float32)


@dataclass
class CompiledModel:
    """The result of `compile`: files written, the int8 model, and the C built for this machine."""

    name: str
    graph: Graph
    qmodel: QModel
    plan: ArenaPlan
    c_path: Path
    h_path: Path
    report: dict
    host: HostModel = field(repr=False)

    @property
    def arena_size(self) -> int:
        return self.plan.size

    def _io(self):
        (in_name,), out_names = self.qmodel.inputs, self.qmodel.outputs
        return self.qmodel.tensors[in_name], [self.qmodel.tensors[n] for n in out_names]

    def run_int8(self, x_int8_ir: np.ndarray) -> list[np.ndarray]:
        """One int8 sample in the IR layout (with batch dim) -> int8 outputs in the IR layout."""
        return self.host.invoke(x_int8_ir)

    def run(self, x: np.ndarray) -> list[np.ndarray] | np.ndarray:
        """Float samples in the ONNX input layout, (N, ...) or one sample -> float outputs in the ONNX
        output layout, computed by the generated C (quantize, int8 inference, dequantize)."""
        name = self.graph.inputs[0]
        samples = data.prepare_samples(np.asarray(x), self.graph, onnx_input_shape(self.graph, name),
                                       what="input")
        t_in, t_outs = self._io()
        outs = [[] for _ in t_outs]
        for sample in samples:
            q = quantize_input(sample[None], t_in.scale, t_in.zero_point)
            for i, (y, t) in enumerate(zip(self.host.invoke(q), t_outs)):
                outs[i].append(_to_onnx_layout(dequantize(y, t.scale, t.zero_point), self.graph, t.name))
        result = [np.concatenate(o) for o in outs]
        return result[0] if len(result) == 1 else result


def _to_onnx_layout(y: np.ndarray, graph: Graph, name: str) -> np.ndarray:
    perm = graph.output_perms.get(name)
    return y if perm is None else y.transpose(perm)


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


def _prepare_output_dir(output_dir: Path, files: list[str], force: bool) -> None:
    if output_dir.exists() and not output_dir.is_dir():
        raise OutputExistsError(f"{str(output_dir)!r} exists and is not a folder; choose another -o")
    if output_dir.exists() and any(output_dir.iterdir()) and not force:
        raise OutputExistsError(
            f"output folder {str(output_dir)!r} exists and is not empty; pass --force (force=True) to "
            f"overwrite {', '.join(files)} in it (other files are left alone), or choose another -o"
        )
    output_dir.mkdir(parents=True, exist_ok=True)


def compile(  # noqa: A001 - the API's name is the job's name
    model: str | Path,
    calib,
    output_dir: str | Path,
    *,
    name: str | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    calib_method: str = "minmax",
    verify_data=None,
    verify_labels: np.ndarray | None = None,
    force: bool = False,
    progress: Progress | None = None,
) -> CompiledModel:
    """Compile a float ONNX model into int8 C, build it on the host and verify it.

    ``calib``/``verify_data``: a .npy/.npz path, an array (N, ...) in the ONNX input layout without
    the batch dimension, or an iterable of such samples. Raises McuqError subclasses on bad input and
    VerificationError (after writing the files and the report) when the C differs from the golden model.
    """
    say = progress or _quiet
    model_path = Path(model)
    if not model_path.exists():
        raise ModelError(f"model file {str(model_path)!r} does not exist")
    prefix = codegen.c_identifier(name or model_path.stem)
    output_dir = Path(output_dir)
    files = [f"{prefix}.c", f"{prefix}.h", "report.md", "report.json"]
    _prepare_output_dir(output_dir, files, force)
    timings = {}
    t0 = time.perf_counter()

    say(f"loading {model_path.name}")
    graph = passes.optimize(load_onnx(model_path, input_shapes))
    graph.name = prefix
    if len(graph.inputs) != 1:
        raise McuqError(
            f"the model has {len(graph.inputs)} inputs ({', '.join(graph.inputs)}); mcuq compiles "
            "single-input models for now"
        )
    in_name = graph.inputs[0]
    in_shape = onnx_input_shape(graph, in_name)
    timings["load"] = time.perf_counter() - t0

    calib_ir = data.prepare_samples(data.load_samples(calib, in_name), graph, in_shape)
    say(f"calibrating on {len(calib_ir)} samples ({calib_method})")
    t = time.perf_counter()
    ranges = calibrate.calibrate(graph, calib_ir, calib_method)
    timings["calibrate"] = time.perf_counter() - t

    t = time.perf_counter()
    qmodel = quant.quantize(graph, ranges)
    plan = plan_arena(qmodel)
    code = codegen.generate(qmodel, plan, prefix, model_path.name)
    c_path, h_path = output_dir / f"{prefix}.c", output_dir / f"{prefix}.h"
    c_path.write_text(code.c_source)
    h_path.write_text(code.header)
    timings["quantize_and_emit"] = time.perf_counter() - t
    say(f"wrote {c_path} and {h_path} (arena {plan.size} B)")

    t = time.perf_counter()
    say("building the C on the host")
    host = HostModel(c_path, h_path, prefix, qmodel)
    timings["host_build"] = time.perf_counter() - t

    if verify_data is not None:
        verify_ir = data.prepare_samples(data.load_samples(verify_data, in_name, "verification data"),
                                         graph, in_shape, "verification data")
        data_label = "verification data"
    else:
        verify_ir, data_label = calib_ir, "calibration data"
    if verify_labels is not None and len(verify_labels) != len(verify_ir):
        raise CalibrationError(
            f"verification labels: {len(verify_labels)} labels for {len(verify_ir)} samples"
        )
    say(f"verifying on {len(verify_ir)} samples")
    t = time.perf_counter()
    verification, layer_sqnr = _verify(model_path, graph, qmodel, host, verify_ir, verify_labels, say)
    verification["data"] = data_label
    timings["verify"] = time.perf_counter() - t

    rows = report.layer_rows(qmodel, layer_sqnr)
    summary = dict(
        name=prefix,
        source=model_path.name,
        version=__version__,
        inputs=[_tensor_summary(qmodel, n) for n in qmodel.inputs],
        outputs=[_tensor_summary(qmodel, n) for n in qmodel.outputs],
        totals=dict(
            macs=sum(r["macs"] for r in rows),
            weight_bytes=sum(r["weight_bytes"] for r in rows),
            arena_bytes=plan.size,
            arena_lower_bound=plan.lower_bound,
        ),
        calibration=dict(method=calib_method, samples=len(calib_ir)),
        verification=verification,
        layers=rows,
        seconds=timings,
    )
    (output_dir / "report.json").write_text(report.to_json(summary))
    (output_dir / "report.md").write_text(report.to_markdown(summary))
    say(f"wrote {output_dir / 'report.md'}")

    compiled = CompiledModel(prefix, graph, qmodel, plan, c_path, h_path, summary, host)
    mism = verification["c_vs_golden"]
    if mism["mismatches"]:
        raise VerificationError(
            f"the generated C differs from the golden model in {mism['mismatches']} values (up to "
            f"{mism['max_lsb']} LSB); this is a bug in mcuq: please report it with {output_dir}/report.json"
        )
    return compiled


def _tensor_summary(qmodel: QModel, name: str) -> dict:
    t = qmodel.tensors[name]
    return dict(name=name, shape=list(t.shape), scale=t.scale, zero_point=t.zero_point)


def _verify(model_path: Path, graph: Graph, qmodel: QModel, host: HostModel, samples_ir: np.ndarray,
            labels: np.ndarray | None, say: Progress = _quiet):
    """Run C and golden on every sample; compare C with golden (exact) and with the float model."""
    from . import float_exec

    in_t = qmodel.tensors[qmodel.inputs[0]]
    out_ts = [qmodel.tensors[n] for n in qmodel.outputs]
    c_outs = [[] for _ in out_ts]
    mismatches, max_lsb = 0, 0
    layer_ref: dict[str, list] = {}
    layer_test: dict[str, list] = {}
    float_all = float_exec.run(graph, {in_t.name: samples_ir})
    quarter = max(1, len(samples_ir) // 4)
    for i, sample in enumerate(samples_ir):
        if i and i % quarter == 0:
            say(f"  {i}/{len(samples_ir)} samples: C and golden model agree so far" if mismatches == 0
                else f"  {i}/{len(samples_ir)} samples: {mismatches} values differ")
        q = quantize_input(sample[None], in_t.scale, in_t.zero_point)
        gold = golden.run_model(qmodel, {in_t.name: q})
        c_ys = host.invoke(q)
        for k, (t, y) in enumerate(zip(out_ts, c_ys)):
            n, m = verify.lsb_mismatch(gold[t.name], y)
            mismatches += n
            max_lsb = max(max_lsb, m)
            c_outs[k].append(y)
        for name, t in qmodel.tensors.items():
            if name in gold:
                layer_test.setdefault(name, []).append(dequantize(gold[name], t.scale, t.zero_point))
                layer_ref.setdefault(name, []).append(float_all[name][i : i + 1])
    layer_sqnr = {
        name: verify.sqnr_db(np.concatenate(layer_ref[name]), np.concatenate(layer_test[name]))
        for name in layer_test
    }
    samples_onnx = data.to_onnx_layout(samples_ir, graph)
    float_outs, engine = float_reference(model_path, graph, samples_onnx)
    metrics, deq_outs = [], []
    for k, t in enumerate(out_ts):
        deq = _to_onnx_layout(dequantize(np.concatenate(c_outs[k]), t.scale, t.zero_point), graph, t.name)
        deq_outs.append(deq)
        metrics.append(verify.compare_outputs(t.name, float_outs[k].reshape(deq.shape), deq).to_dict())
    result = dict(
        samples=len(samples_ir),
        float_reference=engine,
        c_vs_golden=dict(mismatches=mismatches, max_lsb=max_lsb),
        float_metrics=metrics,
    )
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        result["accuracy"] = dict(
            float=float(np.mean(float_outs[0].reshape(len(labels), -1).argmax(1) == labels)),
            int8=float(np.mean(deq_outs[0].reshape(len(labels), -1).argmax(1) == labels)),
        )
    return result, layer_sqnr
