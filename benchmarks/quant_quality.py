"""Quantization quality side by side: mcuq's calibration methods (with and without bias correction and
cross-layer equalization), ONNX Runtime's `quantize_static` and the TFLite converter's int8 model.

    python benchmarks/quant_quality.py [--models kws_dscnn,mnist_keras] [--quick] [--write-results]

One Markdown table per model. Every row is measured on the same evaluation samples (zoo_models.py)
against the float model run by ONNX Runtime: top-1 accuracy where there are labels, top-1 agreement
with the float model, SQNR of the model output against the float output. mcuq rows run the generated
C (`mcuq.compile`, which also checks it against the golden model bit for bit); ORT rows run the QDQ
model with ONNX Runtime; the TFLite row runs `model_int8.tflite` with TensorFlow Lite Micro.
``--quick`` leaves out the bias-correction and equalization variants.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import results
from other_quantizers import ort_outputs, run_onnx, tflite_outputs
from zoo_models import ZOO, Case, eval_cases

import mcuq
from mcuq import passes
from mcuq.calib.equalize import find_pairs
from mcuq.errors import McuqError
from mcuq.frontend.onnx_loader import load_onnx
from mcuq.quant import precision
from mcuq.verify.compare import sqnr_db, top1_agreement

MCUQ_METHODS = ("minmax", "percentile", "mse", "entropy", "auto")
PREAMBLE = """\
Rows: mcuq runs its generated C (host build, bit-exact with the golden model); "bias corr." is
--bias-correction, "CLE" is --equalize (only on models with conv/depthwise pairs joined by ReLU).
ORT: onnxruntime.quantization.quantize_static, QDQ format, int8 activations and weights, weights per
channel, the same calibration samples, each of its calibration methods (MinMax is its default;
Percentile keeps 99.999 % on a 2048-bin histogram), the QDQ model run by ONNX Runtime. TFLite: the
zoo's model_int8.tflite run by TensorFlow Lite Micro, input quantized with its own scale and zero
point. Agreement and SQNR are against the float ONNX model run by ONNX Runtime on the same samples.\
"""
ORT_METHODS = ("MinMax", "Entropy", "Percentile")

@dataclass
class Row:
    label: str
    accuracy: float | None
    agreement: float | None
    sqnr: float | None
    family: str  # "float", "mcuq", "ort", "tflite"


def metrics(label: str, family: str, outputs: np.ndarray, reference: np.ndarray, labels) -> Row:
    outputs, reference = outputs.reshape(len(reference), -1), reference.reshape(len(reference), -1)
    accuracy = None if labels is None else float(np.mean(outputs.argmax(1) == labels))
    return Row(label, accuracy, top1_agreement(reference, outputs), sqnr_db(reference, outputs), family)


def mcuq_variants(case: Case, quick: bool) -> list[tuple[str, dict]]:
    """(row label, compile options): every method; with bias correction; the defaults with int16 layers
    (`--int16 auto`, and `--int16 outputs` where the output layer has an int16 form); with equalization
    where the model has layer pairs it applies to."""
    variants = [(m, dict(calib_method=m, bias_correction=False, equalization=False)) for m in MCUQ_METHODS]
    if quick:
        return variants
    variants += [(f"{m} + bias corr.", dict(calib_method=m, bias_correction=True, equalization=False))
                 for m in MCUQ_METHODS]
    graph = passes.optimize(load_onnx(case.path))
    defaults = dict(calib_method="auto", bias_correction=True, equalization=False)
    variants.append(("auto + bias corr. + int16 auto", dict(defaults, int16_layers="auto")))
    try:  # int16 model outputs (finer logits) where the layer writing them has an int16 form
        precision.output_writers(graph)
        variants.append(("auto + bias corr. + int16 outputs", dict(defaults, int16_layers="outputs")))
    except McuqError:
        pass
    pairs, _ = find_pairs(graph)
    if pairs:
        variants += [(f"{m} + CLE", dict(calib_method=m, bias_correction=False, equalization=True))
                     for m in MCUQ_METHODS]
        variants.append(("auto + CLE + bias corr.", dict(calib_method="auto", bias_correction=True,
                                                         equalization=True)))
    return variants


def mcuq_rows(case: Case, reference: np.ndarray, quick: bool) -> list[Row]:
    rows = []
    for label, options in mcuq_variants(case, quick):
        with tempfile.TemporaryDirectory() as out:
            compiled = mcuq.compile(case.path, case.calib, Path(out) / "m", verify_data=case.test, **options)
            rows.append(metrics(f"mcuq {label}", "mcuq", compiled.run(case.test), reference, case.labels))
        print(f"  {rows[-1].label}: done", file=sys.stderr, flush=True)
    return rows


def other_rows(case: Case, reference: np.ndarray) -> tuple[list[Row], list[str]]:
    rows, notes, outputs = [], [], {}
    for method in ORT_METHODS:
        outputs[method], ort_notes = ort_outputs(case.path, case.calib, case.test, method)
        rows.append(metrics(f"ORT quantize_static {method}", "ort", outputs[method], reference, case.labels))
        notes += [n for n in ort_notes if n not in notes]
    if np.array_equal(outputs["Entropy"], outputs["MinMax"]):
        notes.append("ORT Entropy gave exactly MinMax's outputs: `quantize_static` builds its entropy calibrator "
                     "with 128 histogram bins and 128 quantized bins, so the only threshold it can try is the "
                     "whole range.")
    if case.tflite is not None and case.tflite.exists():
        y = tflite_outputs(case.tflite, case.test, nchw_input=case.test.ndim == 4 and case.test.shape[1] == 3)
        rows.append(metrics("TFLite converter int8 (TFLM)", "tflite", y, reference, case.labels))
    return rows, notes


def best(rows: list[Row], family: str) -> Row:
    """The row of a family with the highest top-1 agreement, SQNR breaking ties."""
    return max((r for r in rows if r.family == family), key=lambda r: (r.agreement, r.sqnr))


def fmt(value: float | None, percent: bool = True) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.2f} %" if percent else f"{value:.2f}"


def table(case: Case, rows: list[Row], notes: list[str]) -> str:
    lines = [f"### {case.name} ({len(case.test)} evaluation samples, {len(case.calib)} calibration samples)", "",
             "| | top-1 accuracy | top-1 agreement with float | output SQNR dB |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r.label} | {fmt(r.accuracy)} | {fmt(r.agreement)} | {fmt(r.sqnr, percent=False)} |")
    lines.append("")
    m, o = best(rows, "mcuq"), best(rows, "ort")
    verdict = "at least" if (m.agreement >= o.agreement and m.sqnr >= o.sqnr) else "NOT at least"
    notes = [f"Best mcuq row ({m.label}: {fmt(m.agreement)}, {m.sqnr:.2f} dB) is {verdict} as good as ORT's best "
             f"({o.label}: {fmt(o.agreement)}, {o.sqnr:.2f} dB) in both agreement and SQNR.", *notes]
    lines += [f"- {n}" for n in notes]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated model names (default: all)")
    parser.add_argument("--quick", action="store_true", help="calibration methods only")
    results.add_option(parser)
    args = parser.parse_args()
    if not ZOO.is_dir():
        print(f"model zoo not found at {ZOO}; set MCUQ_MODEL_ZOO", file=sys.stderr)
        return 1
    warnings.filterwarnings("ignore")
    wanted = set(args.models.split(",")) if args.models else None
    with results.recorded(__file__, args.write_results):
        print(PREAMBLE, "\n")
        for case in eval_cases():
            if wanted and case.name not in wanted:
                continue
            print(f"{case.name}:", file=sys.stderr, flush=True)
            reference = run_onnx(case.path, case.test)
            rows = [Row("float (ONNX Runtime)", None if case.labels is None else
                        float(np.mean(reference.reshape(len(reference), -1).argmax(1) == case.labels)), None, None,
                        "float")]
            rows += mcuq_rows(case, reference, args.quick)
            others, notes = other_rows(case, reference)
            print(table(case, rows + others, notes), "\n", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
