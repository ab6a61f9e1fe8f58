"""The whole job, stage after stage: load -> optimize -> calibrate -> quantize -> plan -> emit ->
host build -> verify -> report [-> firmware build -> QEMU run -> check against the host build].
`compile()` is the Python API; the CLI is a thin layer over it."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import threadpoolctl

from mcuq import codegen, data, firmware, output_folder, passes, quant, report, verify
from mcuq.calib import ptq
from mcuq.codegen import cmake
from mcuq.errors import CalibrationError, McuqError, ModelError, VerificationError
from mcuq.firmware.check import run_summary, size_summary, stack_overflow
from mcuq.frontend import pytorch
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.frontend.tflite_loader import is_tflite, load_tflite
from mcuq.ir.float_exec import FloatRuns
from mcuq.ir.graph import Graph
from mcuq.plan import DEFAULT_SCRATCH_GROWTH, ArenaPlan, best_schedule, plan_arena, with_roomy_scratch
from mcuq.qir.model import QModel
from mcuq.quant import auto_precision
from mcuq.quant.fixed import take_fixed_quant
from mcuq.verify import diagnose
from mcuq.verify.host import HostModel

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

    def firmware_samples(self, samples_ir: np.ndarray) -> list[firmware.TestSample]:
        """Inputs (IR layout) for a firmware to embed, quantized, with the host build's outputs it must reproduce."""
        t_in, _ = self._io()
        samples = []
        for sample in samples_ir:
            q = quant.quantize_input(sample[None], t_in.scale, t_in.zero_point)
            samples.append(firmware.TestSample(q.reshape(-1), tuple(y.reshape(-1) for y in self.run_int8(q))))
        return samples

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
    model,
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
    scratch_growth: float = DEFAULT_SCRATCH_GROWTH,
    firmware_options: firmware.FirmwareOptions | None = None,
    progress: Progress | None = None,
    example_input=None,
) -> CompiledModel:
    """Compile an ONNX or TFLite (.tflite) model into int8 C, build it on the host and verify it.

    ``model``: an ONNX file, or a ``torch.nn.Module`` with ``example_input`` (one input as the module
    takes it, batch dimension 1): the module is exported in eval mode with ``torch.onnx.export`` into
    ``output_dir/NAME.onnx`` (kept; NAME defaults to the module's class name), which is then compiled
    as any ONNX file; ``report["exported"]`` names the file and the exporter (see `frontend.pytorch`).

    ``calib``/``verify_data``: a .npy/.npz path, an array (N, ...) in the ONNX input layout without
    the batch dimension, or an iterable of such samples; for an int8 model input (a pre-quantized
    model), int8 samples. ``calib`` may be None for a pre-quantized (QDQ, int8 .tflite) model that fixes every
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

    ``scratch_growth``: how much larger than the least (a fraction) the arena may become so that kernels get
    the scratch of their faster paths (see `plan.with_roomy_scratch`); 0 keeps the least arena.

    ``firmware_options``: also write a firmware project for that board into the output folder, build it
    with arm-none-eabi-gcc (DoesNotFitError when it does not fit) and, with ``run`` on an emulated board,
    run it under QEMU on the first verification samples; its outputs must equal the host build's.
    """
    if not scratch_growth >= 0:
        raise McuqError(f"scratch_growth must be 0 or more (a fraction of the arena), got {scratch_growth!r}")
    module, model_path, prefix = _model_source(model, name, Path(output_dir), example_input)
    job = _Job(model_path, prefix, Path(output_dir), calib, input_shapes, calib_method, bias_correction,
               equalization, int16_layers, verify_data, verify_labels, scratch_growth, firmware_options)
    names = _output_names(job) + ([model_path.name] if module is not None else [])
    if firmware_options is not None:
        firmware.require_tools(firmware_options.run and firmware_options.board.emulated)
    say = progress or _quiet
    # A failed job leaves the folder as it was.
    with output_folder.guarded(job.output_dir, names, force), one_blas_thread():
        exported = None
        if module is not None:
            say(f"exporting {pytorch.module_name(module)} with torch.onnx.export to {model_path}")
            exported = pytorch.export(module, example_input, model_path)
        return _compile_into(job, say, exported)


@contextmanager
def one_blas_thread():
    """numpy's BLAS on one thread while the job runs (the caller's setting is restored after). The float
    passes, probes and golden model make many mid-sized matrix products. On this 2-core machine, idle, a
    second BLAS thread saved little (ResNet-8, 200 samples: 4.6 s with two threads, 4.8 with one;
    regnet_x_400mf 6.1 either way; resnet18 64x64, the largest products, 5.9 against 7.4); with one other
    busy process every threaded product waited for a time slice (ResNet-8 8.3 s against 5.2 with one
    thread; regnet 8.8 against 6.6). benchmarks/compile_time.py measures it."""
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        yield


def _model_source(model, name: str | None, output_dir: Path, example_input):
    """(the torch module or None, the ONNX file to compile, the C prefix): a module's export goes to
    ``output_dir/PREFIX.onnx``, its prefix from its class name; a file's prefix is its stem."""
    if pytorch.is_torch_module(model):
        pytorch.example_tensor(example_input)  # checked before the output folder is touched
        prefix = codegen.c_identifier(name or pytorch.module_name(model))
        return model, output_dir / f"{prefix}.onnx", prefix
    model_path = _model_file(model, example_input)
    return None, model_path, codegen.c_identifier(name or model_path.stem)


def _model_file(model, example_input) -> Path:
    """The ONNX file ``model`` names; McuqError when it does not exist or is neither a file nor a module."""
    if not isinstance(model, (str, os.PathLike)):
        raise ModelError(f"model is a {type(model).__name__}: give an ONNX file's path or a torch.nn.Module")
    if example_input is not None:
        raise McuqError("example_input is for a torch.nn.Module; an ONNX file's input shape is in the file "
                        "(or --input-shape / input_shapes)")
    model_path = Path(model)
    if not os.path.exists(model_path):  # False, not an OSError, for a name too long
        raise ModelError(f"model file {str(model_path)!r} does not exist")
    return model_path


def _compile_into(job: _Job, say: Progress, exported: pytorch.Exported | None = None) -> CompiledModel:
    """`compile` once the output folder is checked and guarded: each stage takes what earlier ones returned."""
    timer = StageTimer()
    with timer.stage("load"):
        loaded = load_for_compile(job.model_path, job.prefix, job.input_shapes, say)
    samples = _prepare_data(loaded, job.calib, job.verify_data, job.verify_labels)
    with timer.stage("calibrate"):
        calibrated = _calibrate(loaded, samples.calib, job, say)
    precision = _choose_precision(job.int16_layers, calibrated, samples.calib, job.calib_method, say)
    with timer.stage("quantize_and_emit"):
        qmodel, plan = _quantize_and_plan(calibrated, loaded.fixed, precision.int16_nodes, job.scratch_growth)
        c_path, h_path = _emit(qmodel, plan, job, say)
    verify_ir = _verification_inputs(samples, calibrated.reference, qmodel)
    with timer.stage("host_build"):
        host = _host_build(c_path, h_path, job.prefix, qmodel, say)
    with timer.stage("verify"):
        verification, layer_sqnr = _verify(job, calibrated.reference, qmodel, host, verify_ir, samples, say,
                                           _shared_runs(calibrated, verify_ir))
    with timer.stage("diagnose"):
        diagnosis = _diagnose(calibrated, qmodel, verify_ir, layer_sqnr, verification, job.calib_method, say,
                              _shared_runs(calibrated, verify_ir))
    summary = _report(job, qmodel, plan, _calibration_facts(job, loaded, samples, calibrated), precision.facts,
                      verification, layer_sqnr, diagnosis, timer.seconds, exported, say)
    _check_c_equals_golden(verification, job.output_dir)
    compiled = CompiledModel(job.prefix, calibrated.reference, qmodel, plan, c_path, h_path, summary, host)
    if job.firmware_options is not None:
        compiled.firmware_build, compiled.firmware_run = _firmware(job, compiled, verify_ir, say)
    return compiled


class StageTimer:
    """Wall-clock seconds of each stage, in the order they ran: the report's ``seconds``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the body as stage ``name``; a stage that raises records nothing (the error goes on)."""
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start


@dataclass(frozen=True)
class _Job:
    """What `compile` was asked for, with the C prefix chosen and the paths as `Path`."""

    model_path: Path
    prefix: str
    output_dir: Path
    calib: object
    input_shapes: dict[str, tuple[int, ...]] | None
    calib_method: str
    bias_correction: bool
    equalization: bool
    int16_layers: object
    verify_data: object
    verify_labels: np.ndarray | None
    scratch_growth: float
    firmware_options: firmware.FirmwareOptions | None


@dataclass(frozen=True)
class _Loaded:
    """The optimized float IR and what the model file fixes."""

    graph: Graph
    fixed: dict  # tensor -> (scale, zero point) a pre-quantized (QDQ) file fixes
    in_name: str
    in_shape: tuple[int, ...]  # the ONNX input shape


@dataclass(frozen=True)
class _Samples:
    """Calibration and verification inputs in the IR layout."""

    calib: np.ndarray | None
    verify: np.ndarray | None  # None: random inputs, drawn once the input's quantization is known
    verify_source: str  # what the verification inputs are, for the report
    verify_labels: np.ndarray | None


@dataclass(frozen=True)
class _Precision:
    int16_nodes: Collection[str]  # for the lowering
    facts: report.PrecisionFacts  # for the report


def _output_names(job: _Job) -> list[str]:
    """The files and folders the job writes into the output folder."""
    names = [f"{job.prefix}.c", f"{job.prefix}.h", cmake.CMAKE_LISTS, "report.md", "report.json", "memory.svg"]
    if job.firmware_options is not None:
        names += firmware.project_file_names(job.firmware_options.board.name) + ["build/"]
    return names


def load_for_compile(model_path: Path, prefix: str, input_shapes, say: Progress = _quiet) -> _Loaded:
    """The optimized float IR of a single-input model, and what its file fixes (`compile`'s first stage;
    `mcuq.inspection` plans from it too)."""
    say(f"loading {model_path.name}")
    load = load_tflite if is_tflite(model_path) else load_onnx
    graph, fixed = take_fixed_quant(passes.optimize(load(model_path, input_shapes)))
    graph.name = prefix
    if len(graph.inputs) != 1:
        raise McuqError(
            f"the model has {len(graph.inputs)} inputs ({', '.join(graph.inputs)}); mcuq compiles "
            "single-input models for now"
        )
    in_name = graph.inputs[0]
    in_shape = data.onnx_input_shape(graph, in_name)
    data.check_one_sample_input(in_name, in_shape, in_name in (input_shapes or {}))
    return _Loaded(graph, fixed, in_name, in_shape)


def _prepare_data(loaded: _Loaded, calib, verify_data, verify_labels) -> _Samples:
    """Verification inputs: the verification data, else the calibration data, else random inputs."""
    graph, in_name, in_shape = loaded.graph, loaded.in_name, loaded.in_shape
    calib_ir = None if calib is None else data.prepare_samples(data.load_samples(calib, in_name), graph, in_shape)
    if verify_data is not None:
        verify_ir = data.prepare_samples(data.load_samples(verify_data, in_name, "verification data"),
                                         graph, in_shape, "verification data")
        source = "verification data"
    elif calib_ir is not None:
        verify_ir, source = calib_ir, "calibration data"
    else:
        verify_ir, source = None, f"{data.RANDOM_SAMPLES} random inputs (no data given)"
    if verify_labels is not None and (verify_ir is None or len(verify_labels) != len(verify_ir)):
        raise CalibrationError(
            f"verification labels: {len(verify_labels)} labels for "
            f"{'no' if verify_ir is None else len(verify_ir)} samples; pass --verify-data with them"
        )
    return _Samples(calib_ir, verify_ir, source, verify_labels)


def _calibrate(loaded: _Loaded, calib_ir: np.ndarray | None, job: _Job, say: Progress) -> ptq.Prepared:
    """Ranges from the calibration data (none without it: the model file then fixes them)."""
    if calib_ir is None:
        return ptq.Prepared(loaded.graph, loaded.graph, {}, {})
    # A pre-quantized model keeps the weights and biases its file stores: no equalization or correction.
    pre_quantized = bool(loaded.fixed)
    return ptq.prepare(loaded.graph, calib_ir, job.calib_method, job.bias_correction and not pre_quantized,
                       job.equalization and not pre_quantized, say)


def _choose_precision(int16_layers, calibrated: ptq.Prepared, calib_ir: np.ndarray | None, calib_method: str,
                      say: Progress) -> _Precision:
    """The int16 layers: those named, or for ``auto`` those the diagnosis on the calibration data picks."""
    names, threshold = auto_precision.parse(int16_layers)
    if threshold is None:
        return _Precision(names, report.PrecisionFacts(None, [dict(name=n, reason="asked for") for n in names]))
    if calib_ir is None:
        raise CalibrationError("--int16 auto chooses layers from the calibration data: pass --calib too")
    say(f"choosing int16 layers: those adding noise below {threshold:g} dB on the calibration data")
    runs = calibrated.runs if calibrated.graph is calibrated.reference else None  # biases not corrected
    names, chosen = auto_precision.choose(calibrated.graph, calibrated.ranges, calib_ir, calib_method, threshold, runs)
    return _Precision(names, report.PrecisionFacts(threshold, chosen))


def _quantize_and_plan(calibrated: ptq.Prepared, fixed: dict, int16_nodes,
                       scratch_growth: float) -> tuple[QModel, ArenaPlan]:
    qmodel = best_schedule(quant.quantize(calibrated.graph, calibrated.ranges, fixed, int16_nodes=int16_nodes))
    return qmodel, with_roomy_scratch(qmodel, plan_arena(qmodel), scratch_growth)


def _emit(qmodel: QModel, plan: ArenaPlan, job: _Job, say: Progress) -> tuple[Path, Path]:
    """Write NAME.c, NAME.h and the CMakeLists.txt of the model's library target."""
    code = codegen.generate(qmodel, plan, job.prefix, job.model_path.name)
    job.output_dir.mkdir(parents=True, exist_ok=True)
    c_path, h_path = job.output_dir / f"{job.prefix}.c", job.output_dir / f"{job.prefix}.h"
    c_path.write_text(code.c_source)
    h_path.write_text(code.header)
    (job.output_dir / cmake.CMAKE_LISTS).write_text(cmake.cmake_lists(job.prefix))
    say(f"wrote {c_path} and {h_path} (arena {plan.size:,} B, lower bound {plan.lower_bound:,} B)")
    return c_path, h_path


def _verification_inputs(samples: _Samples, graph: Graph, qmodel: QModel) -> np.ndarray:
    if samples.verify is not None:
        return samples.verify
    t_in = qmodel.tensors[qmodel.inputs[0]]
    return data.random_samples(graph, t_in.scale, t_in.zero_point)


def _host_build(c_path: Path, h_path: Path, prefix: str, qmodel: QModel, say: Progress) -> HostModel:
    say("building the C on the host")
    return HostModel(c_path, h_path, prefix, qmodel)


def _shared_runs(calibrated: ptq.Prepared, samples_ir: np.ndarray) -> FloatRuns | None:
    """The reference graph's activations from calibration, when verification runs on the calibration data."""
    runs = calibrated.runs
    return runs if runs is not None and runs.samples is samples_ir and runs.graph is calibrated.reference else None


def _verify(job: _Job, graph: Graph, qmodel: QModel, host: HostModel, verify_ir: np.ndarray, samples: _Samples,
            say: Progress, runs: FloatRuns | None) -> tuple[dict, dict[str, float]]:
    """The C against the golden model (exact) and against the float model; each activation's SQNR."""
    say(f"verifying on {len(verify_ir)} samples")
    verification, layer_sqnr = verify.verify_model(job.model_path, graph, qmodel, host, verify_ir,
                                                   samples.verify_labels, say, runs)
    verification["data"] = samples.verify_source
    return verification, layer_sqnr


def _diagnose(calibrated: ptq.Prepared, qmodel: QModel, verify_ir: np.ndarray, layer_sqnr: dict[str, float],
              verification: dict, calib_method: str, say: Progress, runs: FloatRuns | None) -> dict:
    say("diagnosing each layer's own quantization error")
    return diagnose.diagnose(calibrated.reference, qmodel, calibrated.ranges, verify_ir, layer_sqnr, calib_method,
                             verification["float_metrics"], runs=runs)


def _calibration_facts(job: _Job, loaded: _Loaded, samples: _Samples, calibrated: ptq.Prepared
                       ) -> report.CalibrationFacts:
    return report.CalibrationFacts(job.calib_method, None if samples.calib is None else len(samples.calib),
                                   loaded.fixed, calibrated.summary)


def _report(job: _Job, qmodel: QModel, plan: ArenaPlan, calibration: report.CalibrationFacts,
            precision: report.PrecisionFacts, verification: dict, layer_sqnr: dict[str, float], diagnosis: dict,
            seconds: dict[str, float], exported: pytorch.Exported | None, say: Progress) -> dict:
    """Assemble the report and write report.json, report.md and memory.svg."""
    summary = report.assemble(job.prefix, job.model_path.name, qmodel, plan, calibration, precision, verification,
                              layer_sqnr, diagnosis, seconds)
    if exported is not None:
        summary["exported"] = exported.as_report()
    report.write(job.output_dir, summary)
    say(f"wrote {job.output_dir / 'report.md'}")
    return summary


def _check_c_equals_golden(verification: dict, output_dir: Path) -> None:
    mism = verification["c_vs_golden"]
    if mism["mismatches"]:
        raise VerificationError(
            f"the generated C differs from the golden model in {mism['mismatches']} values (up to "
            f"{mism['max_lsb']} LSB); this is a bug in mcuq: please report it with {output_dir}/report.json"
        )


def _firmware(job: _Job, compiled: CompiledModel, samples_ir: np.ndarray, say: Progress
              ) -> tuple[firmware.FirmwareBuild, firmware.FirmwareRun | None]:
    """Write and build the firmware; run it on an emulated board; its outputs must equal the host build's.
    Adds the ``firmware`` section to the report and writes the report again."""
    options, output_dir = job.firmware_options, job.output_dir
    board = options.board
    samples = compiled.firmware_samples(samples_ir[: options.samples])
    project = firmware.write_project(output_dir, compiled.name, board, samples, opt=options.opt,
                                     stack_size=options.stack_size)
    say(f"building the firmware for {board.name} ({board.cpu}, {options.opt})")
    totals = compiled.report["totals"]
    build = firmware.build_firmware(project, extra_cflags=options.extra_cflags, arena_bytes=totals["arena_bytes"],
                                    weight_bytes=totals["weight_bytes"])
    section = dict(board=board.name, cpu=board.cpu, opt=options.opt, elf=str(project.elf), **size_summary(build))
    compiled.report["firmware"] = section
    run = None
    if options.run and board.emulated:
        say(f"running {len(samples)} samples under QEMU ({board.qemu_machine})")
        run = firmware.run_firmware(project, timeout_s=options.timeout_s)
        section["run"] = run_summary(run, samples, [r["macs"] for r in compiled.report["layers"]])
    report.write(output_dir, compiled.report)
    overflow = None if run is None else stack_overflow(run, project.stack_size)
    if overflow:  # before the outputs: an overflow makes them differ, and the cause is the stack, not mcuq
        raise firmware.DoesNotFitError(overflow)
    problems = section.get("run", {}).get("mismatches")
    if problems:
        raise VerificationError(
            f"the firmware on {board.name} computed different outputs than the host build of the same C: "
            + "; ".join(problems[:5]) + f". This is a bug in mcuq: please report it with {output_dir}"
        )
    return build, run
