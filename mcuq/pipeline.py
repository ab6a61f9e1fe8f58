"""The whole job, stage after stage: load -> optimize -> calibrate -> quantize -> plan -> emit ->
host build -> verify -> report [-> firmware build -> QEMU run -> check against the host build].
`compile()` is the Python API; the CLI is a thin layer over it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mcuq import codegen, data, firmware, output_folder, passes, quant, report, verify
from mcuq.calib import ptq
from mcuq.errors import CalibrationError, McuqError, ModelError, VerificationError
from mcuq.firmware.check import run_summary, size_summary
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.ir.graph import Graph
from mcuq.plan import ArenaPlan, best_schedule, plan_arena, with_roomy_scratch
from mcuq.qir.model import QModel
from mcuq.quant import auto_precision
from mcuq.quant.fixed import take_fixed_quant
from mcuq.report import memory_svg
from mcuq.verify import diagnose
from mcuq.verify.host import HostModel
from mcuq.version import __version__

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


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
    firmware_build: firmware.FirmwareBuild | None = None
    firmware_run: firmware.FirmwareRun | None = None

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
        """Samples in the ONNX input layout and type, (N, ...) or one sample -> outputs in the ONNX
        output layout and type, computed by the generated C. Float in and out for a float model
        (quantize, int8 inference, dequantize); a pre-quantized model whose file has int8 inputs or
        outputs takes and gives those int8 values as they are."""
        name = self.graph.inputs[0]
        samples = data.prepare_samples(np.asarray(x), self.graph, data.onnx_input_shape(self.graph, name),
                                       what="input")
        t_in, t_outs = self._io()
        outs = [[] for _ in t_outs]
        for sample in samples:
            q = quant.quantize_input(sample[None], t_in.scale, t_in.zero_point)
            for i, (y, t) in enumerate(zip(self.host.invoke(q), t_outs)):
                value = y if t.name in self.graph.io_quant else quant.dequantize(y, t.scale, t.zero_point)
                outs[i].append(data.output_to_onnx_layout(value, self.graph, t.name))
        result = [np.concatenate(o) for o in outs]
        return result[0] if len(result) == 1 else result


def compile(  # noqa: A001 - the API's name is the job's name
    model: str | Path,
    calib,
    output_dir: str | Path,
    *,
    name: str | None = None,
    input_shapes: dict[str, tuple[int, ...]] | None = None,
    calib_method: str = ptq.DEFAULT_METHOD,
    bias_correction: bool = ptq.DEFAULT_BIAS_CORRECTION,
    equalization: bool = ptq.DEFAULT_EQUALIZATION,
    int16_layers=(),
    verify_data=None,
    verify_labels: np.ndarray | None = None,
    force: bool = False,
    firmware_options: firmware.FirmwareOptions | None = None,
    progress: Progress | None = None,
) -> CompiledModel:
    """Compile an ONNX model into int8 C, build it on the host and verify it.

    ``calib``/``verify_data``: a .npy/.npz path, an array (N, ...) in the ONNX input layout without
    the batch dimension, or an iterable of such samples; for an int8 model input (a pre-quantized
    model), int8 samples. ``calib`` may be None for a pre-quantized (QDQ) model that fixes every
    activation's quantization; without ``verify_data`` either, the C is verified on random inputs.
    Raises McuqError subclasses on bad input and VerificationError (after writing the files and the
    report) when the C differs from the golden model. ``report["warnings"]`` lists what the caller
    should see (the CLI prints each as a ``warning:`` line on stderr): an output whose SQNR against
    the float model is below `diagnose.LOW_SQNR_DB`, with the layer where it falls.

    ``int16_layers``: node names (an iterable or a comma-separated string) to run with int16
    activations and int8 weights (TFLite's 16x8 scheme), or ``"auto"`` / ``"auto:DB"`` to choose them
    from the diagnosis of the int8 model on the calibration data (see `auto_precision`).

    ``calib_method``: minmax, percentile, mse, entropy or auto (per tensor, see `calib.auto`);
    ``bias_correction``, ``equalization``: the optional float-IR steps of `ptq`.

    ``firmware_options``: also write a firmware project for that board into the output folder, build it
    with arm-none-eabi-gcc (DoesNotFitError when it does not fit) and, with ``run`` on an emulated board,
    run it under QEMU on the first verification samples; its outputs must equal the host build's.
    """
    say = progress or _quiet
    model_path = Path(model)
    if not os.path.exists(model_path):  # False, not an OSError, for a name too long
        raise ModelError(f"model file {str(model_path)!r} does not exist")
    prefix = codegen.c_identifier(name or model_path.stem)
    output_dir = Path(output_dir)
    files = [f"{prefix}.c", f"{prefix}.h", "report.md", "report.json", "memory.svg"]
    if firmware_options is not None:
        files += firmware.project_file_names(firmware_options.board.name) + ["build/"]
        firmware.require_tools(firmware_options.run and firmware_options.board.emulated)
    with output_folder.guarded(output_dir, files, force):  # a failed job leaves the folder as it was
        return _compile_into(output_dir, model_path, prefix, calib, input_shapes, calib_method, bias_correction,
                             equalization, int16_layers, verify_data, verify_labels, firmware_options, say)


def _compile_into(output_dir: Path, model_path: Path, prefix: str, calib, input_shapes, calib_method: str,
                  bias_correction: bool, equalization: bool, int16_layers, verify_data, verify_labels,
                  firmware_options: firmware.FirmwareOptions | None, say: Progress) -> CompiledModel:
    """`compile` once the output folder is checked and guarded."""
    timings = {}
    t0 = time.perf_counter()

    say(f"loading {model_path.name}")
    graph, fixed = take_fixed_quant(passes.optimize(load_onnx(model_path, input_shapes)))
    graph.name = prefix
    if len(graph.inputs) != 1:
        raise McuqError(
            f"the model has {len(graph.inputs)} inputs ({', '.join(graph.inputs)}); mcuq compiles "
            "single-input models for now"
        )
    in_name = graph.inputs[0]
    in_shape = data.onnx_input_shape(graph, in_name)
    data.check_one_sample_input(in_name, in_shape, in_name in (input_shapes or {}))
    timings["load"] = time.perf_counter() - t0

    calib_ir = None if calib is None else data.prepare_samples(data.load_samples(calib, in_name), graph, in_shape)
    if verify_data is not None:
        verify_ir = data.prepare_samples(data.load_samples(verify_data, in_name, "verification data"),
                                         graph, in_shape, "verification data")
        data_label = "verification data"
    elif calib_ir is not None:
        verify_ir, data_label = calib_ir, "calibration data"
    else:
        verify_ir, data_label = None, f"{data.RANDOM_SAMPLES} random inputs (no data given)"
    if verify_labels is not None and (verify_ir is None or len(verify_labels) != len(verify_ir)):
        raise CalibrationError(
            f"verification labels: {len(verify_labels)} labels for "
            f"{'no' if verify_ir is None else len(verify_ir)} samples; pass --verify-data with them"
        )
    ranges, quant_graph, ptq_summary = {}, graph, {}
    t = time.perf_counter()
    if calib_ir is not None:
        # A pre-quantized model keeps the weights and biases its file stores: no equalization or correction.
        prepared = ptq.prepare(graph, calib_ir, calib_method, bias_correction and not fixed,
                               equalization and not fixed, say)
        graph, quant_graph, ranges, ptq_summary = prepared.reference, prepared.graph, prepared.ranges, prepared.summary
    timings["calibrate"] = time.perf_counter() - t

    int16_names, threshold = auto_precision.parse(int16_layers)
    chosen = [dict(name=n, reason="asked for") for n in int16_names]
    if threshold is not None:
        if calib_ir is None:
            raise CalibrationError("--int16 auto chooses layers from the calibration data: pass --calib too")
        say(f"choosing int16 layers: those adding noise below {threshold:g} dB on the calibration data")
        int16_names, chosen = auto_precision.choose(quant_graph, ranges, calib_ir, calib_method, threshold)

    t = time.perf_counter()
    qmodel = best_schedule(quant.quantize(quant_graph, ranges, fixed, int16_nodes=int16_names))
    if verify_ir is None:
        t_in = qmodel.tensors[in_name]
        verify_ir = data.random_samples(graph, t_in.scale, t_in.zero_point)
    plan = with_roomy_scratch(qmodel, plan_arena(qmodel))
    code = codegen.generate(qmodel, plan, prefix, model_path.name)
    output_dir.mkdir(parents=True, exist_ok=True)
    c_path, h_path = output_dir / f"{prefix}.c", output_dir / f"{prefix}.h"
    c_path.write_text(code.c_source)
    h_path.write_text(code.header)
    timings["quantize_and_emit"] = time.perf_counter() - t
    say(f"wrote {c_path} and {h_path} (arena {plan.size:,} B, lower bound {plan.lower_bound:,} B)")

    t = time.perf_counter()
    say("building the C on the host")
    host = HostModel(c_path, h_path, prefix, qmodel)
    timings["host_build"] = time.perf_counter() - t

    say(f"verifying on {len(verify_ir)} samples")
    t = time.perf_counter()
    verification, layer_sqnr = verify.verify_model(model_path, graph, qmodel, host, verify_ir, verify_labels, say)
    verification["data"] = data_label
    timings["verify"] = time.perf_counter() - t

    say("diagnosing each layer's own quantization error")
    t = time.perf_counter()
    diagnosis = diagnose.diagnose(graph, qmodel, ranges, verify_ir, layer_sqnr, calib_method,
                                  verification["float_metrics"])
    timings["diagnose"] = time.perf_counter() - t

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
        memory=report.memory_section(qmodel, plan),
        calibration={**_calibration_summary(qmodel, fixed, calib_method, calib_ir), **ptq_summary},
        precision=dict(auto_threshold_db=threshold, int16_layers=chosen,
                       boundaries=sum(layer.op.value == "requantize" for layer in qmodel.layers)),
        verification=verification,
        layers=rows,
        diagnosis=diagnosis,
        warnings=[w["message"] for w in diagnosis["low_sqnr"]],
        seconds=timings,
    )
    _write_reports(output_dir, summary)
    (output_dir / "memory.svg").write_text(memory_svg.render(summary["memory"], prefix))
    say(f"wrote {output_dir / 'report.md'}")

    compiled = CompiledModel(prefix, graph, qmodel, plan, c_path, h_path, summary, host)
    mism = verification["c_vs_golden"]
    if mism["mismatches"]:
        raise VerificationError(
            f"the generated C differs from the golden model in {mism['mismatches']} values (up to "
            f"{mism['max_lsb']} LSB); this is a bug in mcuq: please report it with {output_dir}/report.json"
        )
    if firmware_options is not None:
        _firmware_stage(compiled, firmware_options, verify_ir, output_dir, say)
    return compiled


def _write_reports(output_dir: Path, summary: dict) -> None:
    (output_dir / "report.json").write_text(report.to_json(summary))
    (output_dir / "report.md").write_text(report.to_markdown(summary))


def _firmware_stage(compiled: CompiledModel, options: firmware.FirmwareOptions, samples_ir: np.ndarray,
                    output_dir: Path, say: Progress) -> None:
    """Write and build the firmware; run it on an emulated board; its outputs must equal the host build's."""
    board = options.board
    t_in = compiled.qmodel.tensors[compiled.qmodel.inputs[0]]
    samples = []
    for sample in samples_ir[: options.samples]:
        q = quant.quantize_input(sample[None], t_in.scale, t_in.zero_point)
        samples.append(firmware.TestSample(q.reshape(-1), tuple(y.reshape(-1) for y in compiled.run_int8(q))))
    project = firmware.write_project(output_dir, compiled.name, board, samples, opt=options.opt,
                                     stack_size=options.stack_size)
    say(f"building the firmware for {board.name} ({board.cpu}, {options.opt})")
    totals = compiled.report["totals"]
    build = firmware.build_firmware(project, extra_cflags=options.extra_cflags, arena_bytes=totals["arena_bytes"],
                                    weight_bytes=totals["weight_bytes"])
    compiled.firmware_build = build
    section = dict(board=board.name, cpu=board.cpu, opt=options.opt, elf=str(project.elf), **size_summary(build))
    compiled.report["firmware"] = section
    if options.run and board.emulated:
        say(f"running {len(samples)} samples under QEMU ({board.qemu_machine})")
        run = firmware.run_firmware(project, timeout_s=options.timeout_s)
        compiled.firmware_run = run
        section["run"] = run_summary(run, samples, [r["macs"] for r in compiled.report["layers"]])
    _write_reports(output_dir, compiled.report)
    problems = section.get("run", {}).get("mismatches")
    if problems:
        raise VerificationError(
            f"the firmware on {board.name} computed different outputs than the host build of the same C: "
            + "; ".join(problems[:5]) + f". This is a bug in mcuq: please report it with {output_dir}"
        )


def _calibration_summary(qmodel: QModel, fixed: dict, method: str, calib_ir: np.ndarray | None) -> dict:
    """Where the activations' quantization came from: the model file (QDQ) or calibration."""
    from_file = sum(1 for name in qmodel.tensors if name in fixed)
    return dict(method=method if calib_ir is not None else "none", samples=0 if calib_ir is None else len(calib_ir),
                fixed_by_model=from_file, calibrated=len(qmodel.tensors) - from_file if calib_ir is not None else 0)


def _tensor_summary(qmodel: QModel, name: str) -> dict:
    t = qmodel.tensors[name]
    return dict(name=name, shape=list(t.shape), scale=t.scale, zero_point=t.zero_point)


