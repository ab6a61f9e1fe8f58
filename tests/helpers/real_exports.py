"""Real exports measured the one way the test suite and benchmarks/real_models.py both use: compile with
mcuq's public API (which checks the C against the golden model on every verification sample), run the
C, and compare its output with ONNX Runtime on the float model; quantize the same file with ONNX
Runtime's `quantize_static` (per channel, QDQ, MinMax and Percentile, the same calibration samples) and
compare that too.

An `Export` is one model in one export form: a torch model through one of `torch_export.EXPORTERS`, or
a Keras-style graph of `nhwc_graphs` ("tf2onnx-style")."""

from __future__ import annotations

import importlib.util
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

import mcuq
from mcuq.frontend.onnx_loader import fold_constants
from mcuq.frontend.onnx_ops import HANDLERS
from mcuq.verify.compare import sqnr_db, top1_agreement
from tests.helpers import nhwc_graphs, torch_export
from tests.helpers.paths import REPO

KERAS_FORM = "tf2onnx-style"
ORT_METHODS = ("MinMax", "Percentile")
# Few samples: the whole suite must stay within CI's budget on 2 cores. 16 calibration samples are
# enough for MinMax-style ranges on these seeded, structured inputs.
N_CALIB, N_VERIFY = 16, 8


@dataclass(frozen=True)
class Export:
    model: str
    form: str  # a key of torch_export.EXPORTERS, or KERAS_FORM

    @property
    def needs_torch(self) -> bool:
        return self.form != KERAS_FORM

    @property
    def label(self) -> str:
        return f"{self.model}-{self.form}"

    def write(self, path: Path) -> Path:
        if self.needs_torch:
            return torch_export.export(torch_export.MODELS[self.model], self.form, path)
        build, _ = nhwc_graphs.MODELS[self.model]
        onnx.save(build(), str(path))
        return path

    def samples(self, n: int, seed: int) -> np.ndarray:
        if self.needs_torch:
            return torch_export.samples(torch_export.MODELS[self.model], n, seed)
        _, shape = nhwc_graphs.MODELS[self.model]
        nchw = torch_export.image_like(np.random.default_rng(seed), n, (shape[3], *shape[1:3]))
        return np.ascontiguousarray(nchw.transpose(0, 2, 3, 1))


def all_exports() -> list[Export]:
    torch_forms = [Export(name, form) for name, model in torch_export.MODELS.items() for form in model.exporters]
    return torch_forms + [Export(m, KERAS_FORM) for m in nhwc_graphs.MODELS]


def calibration_and_verification(export: Export) -> tuple[np.ndarray, np.ndarray]:
    """Seeded samples, different seeds for the two sets."""
    return export.samples(N_CALIB, seed=1), export.samples(N_VERIFY, seed=2)


def unhandled_ops(path: Path) -> list[str]:
    """Op types left in the file, after the frontend's own constant folding (shape arithmetic goes), that
    the frontend has no handler for. Ops with a handler may still be refused for an attribute value or
    a shape: the compile error names the first such node."""
    nodes, _, _ = fold_constants(onnx.load(str(path)))
    return sorted({n.op_type for n in nodes} - set(HANDLERS))


@dataclass
class Quality:
    """One quantized model's output on the verification samples against the float model's."""

    sqnr_db: float
    top1_agreement: float


def quality(reference: np.ndarray, outputs: np.ndarray) -> Quality:
    outputs = outputs.reshape(reference.shape)
    return Quality(sqnr_db(reference, outputs), top1_agreement(reference, outputs))


@dataclass
class Measurement:
    export: Export
    opset: int
    error: str | None = None  # why mcuq did not compile it
    unhandled: list[str] = field(default_factory=list)
    c_mismatches: int | None = None
    verified_samples: int | None = None
    mcuq: Quality | None = None
    ort: dict[str, Quality] = field(default_factory=dict)
    arena_bytes: int | None = None
    arena_bound: int | None = None  # its two largest tensors plus its largest kernel scratch
    weight_bytes: int | None = None
    compile_seconds: float | None = None

    @property
    def best_ort_sqnr(self) -> float:
        return max(q.sqnr_db for q in self.ort.values())


def two_largest_tensors_plus_scratch(buffers: list[dict]) -> int:
    """The arena a model's sequence of layers needs at most when no two tensors but a layer's input and
    output are alive at once: the bound issue 14 sets for the sequence models."""
    tensors = sorted((b["size"] for b in buffers if b["kind"] != "scratch"), reverse=True)
    scratch = [b["size"] for b in buffers if b["kind"] == "scratch"]
    return sum(tensors[:2]) + max(scratch, default=0)


def other_quantizers():
    """benchmarks/other_quantizers.py (ONNX Runtime's quantize_static), which the benchmarks also use."""
    spec = importlib.util.spec_from_file_location("other_quantizers", REPO / "benchmarks" / "other_quantizers.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(export: Export, path: Path, output_dir: Path, with_ort: bool = True) -> Measurement:
    """Compile the exported file at ``path`` with mcuq into ``output_dir`` and measure it; a model mcuq
    refuses gives a Measurement with ``error`` (the McuqError's message) and nothing else measured."""
    calib, verify = calibration_and_verification(export)
    ort = other_quantizers()
    result = Measurement(export, ort.onnx_opset(onnx.load(str(path))), unhandled=unhandled_ops(path))
    start = time.perf_counter()
    try:
        compiled = mcuq.compile(path, calib, output_dir, verify_data=verify, force=True)
    except mcuq.McuqError as e:
        result.error = str(e)
        return result
    result.compile_seconds = time.perf_counter() - start
    report = compiled.report
    result.c_mismatches = report["verification"]["c_vs_golden"]["mismatches"]
    result.verified_samples = report["verification"]["samples"]
    result.arena_bytes = report["totals"]["arena_bytes"]
    result.weight_bytes = report["totals"]["weight_bytes"]
    result.arena_bound = two_largest_tensors_plus_scratch(report["memory"]["buffers"])
    reference = ort.run_onnx(path, verify)
    result.mcuq = quality(reference, compiled.run(verify))
    if with_ort:
        for method in ORT_METHODS:
            outputs, _ = ort.ort_outputs(path, calib, verify, method)
            result.ort[method] = quality(reference, outputs)
    return result
