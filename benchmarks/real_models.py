"""Real PyTorch exports and Keras-style graphs (issue 13): does each compile, and how well against ONNX
Runtime's own quantizer.

    python benchmarks/real_models.py [--models resnet18,unet] [--forms dynamo,torchscript-13] [--write-results]

Needs torch, torchvision (installed --no-deps, see .ci/run) and onnxscript. The models, export forms,
inputs and sample counts are those of the test suite (tests/helpers/torch_export.py, nhwc_graphs.py,
real_exports.py), measured the same way: mcuq compiles each file with its defaults (the C is checked
against the golden model on every verification sample); SQNR and top-1 agreement of the output are
against the float file run by ONNX Runtime on the verification samples; ORT rows quantize the same file
with `quantize_static` (QDQ, int8, weights per channel, the same calibration samples).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test helpers, and this checkout's mcuq

import results  # noqa: E402

from tests.helpers import real_exports  # noqa: E402
from tests.helpers.real_exports import N_CALIB, N_VERIFY, ORT_METHODS, Measurement  # noqa: E402

COLUMNS = ["model", "export (opset)", "compiles (or first refusal)", "C = golden", "mcuq SQNR dB",
           *[f"ORT {m} SQNR dB" for m in ORT_METHODS], "top-1 agr. mcuq / " + " / ".join(ORT_METHODS),
           "arena B", "weights B", "compile s"]


def preamble() -> str:
    return (f"{N_CALIB} calibration and {N_VERIFY} verification samples per model (seeded; smooth random images, "
            "or [0, 1] pixels for models that normalize their input). SQNR and top-1 agreement against the "
            "float file run by ONNX Runtime. \"compiles\" shows, for a model mcuq refuses, the op of the first "
            "refused node and the op types without a frontend handler after constant folding (\"no handler\").")


def compile_cell(m: Measurement) -> str:
    if m.error is None:
        return "yes"
    first = m.error.split(". supported ops:")[0]  # the list of supported ops is the same in every row
    hidden = f"; no handler: {', '.join(m.unhandled)}" if m.unhandled else ""
    return f"no: {first}{hidden}".replace("|", "/")


def row(m: Measurement) -> list[str]:
    cells = [m.export.model, f"{m.export.form} ({m.opset})", compile_cell(m)]
    if m.error is not None:
        return cells + [""] * (len(COLUMNS) - len(cells))
    qualities = [m.mcuq, *[m.ort[method] for method in ORT_METHODS]]
    return cells + [
        f"yes ({m.verified_samples} samples)" if m.c_mismatches == 0 else f"NO: {m.c_mismatches} values differ",
        *[f"{q.sqnr_db:.1f}" for q in qualities],
        " / ".join(f"{q.top1_agreement:.2f}" for q in qualities),
        f"{m.arena_bytes:,}", f"{m.weight_bytes:,}", f"{m.compile_seconds:.1f}",
    ]


def selected(models: str | None, forms: str | None) -> list[real_exports.Export]:
    chosen = real_exports.all_exports()
    if models:
        chosen = [e for e in chosen if e.model in models.split(",")]
    if forms:
        chosen = [e for e in chosen if e.form in forms.split(",")]
    return chosen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help="comma-separated model names (default: all)")
    parser.add_argument("--forms", help="comma-separated export forms (default: all)")
    results.add_option(parser)
    args = parser.parse_args()
    exports = selected(args.models, args.forms)
    if not exports:
        print("no model matches --models / --forms", file=sys.stderr)
        return 1
    with results.recorded(__file__, args.write_results):
        print(preamble() + "\n")
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "---|" * len(COLUMNS))
        for export in exports:
            with tempfile.TemporaryDirectory() as tmp:
                path = export.write(Path(tmp) / f"{export.label}.onnx")
                measurement = real_exports.measure(export, path, Path(tmp) / "out")
            print("| " + " | ".join(row(measurement)) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
