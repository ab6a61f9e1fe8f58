"""The report of one compile as a dict (what report.json holds), and its files: report.json, report.md
and memory.svg."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from mcuq.plan import ArenaPlan
from mcuq.qir.model import QModel
from mcuq.report import memory_svg
from mcuq.report.summary import layer_rows, memory_section, to_json, to_markdown
from mcuq.version import __version__


@dataclass(frozen=True)
class CalibrationFacts:
    """Where the activations' quantization came from: the model file (QDQ) or calibration."""

    method: str
    samples: int | None  # None: no calibration data was given
    fixed_by_model: Collection[str]  # tensors whose quantization the model file fixes
    ptq: dict  # what the optional float-IR steps did (`ptq.prepare`'s summary)


@dataclass(frozen=True)
class PrecisionFacts:
    """Which layers run with int16 activations, and why."""

    auto_threshold_db: float | None  # None unless `--int16 auto` chose them
    int16_layers: list[dict]  # name and reason of each


def assemble(name: str, source: str, qmodel: QModel, plan: ArenaPlan, calibration: CalibrationFacts,
             precision: PrecisionFacts, verification: dict, layer_sqnr: dict[str, float], diagnosis: dict,
             seconds: dict[str, float]) -> dict:
    """The report: what was compiled, its sizes, how it was quantized, how it verified, and why."""
    rows = layer_rows(qmodel, layer_sqnr)
    return dict(
        name=name,
        source=source,
        version=__version__,
        inputs=[_tensor_summary(qmodel, n) for n in qmodel.inputs],
        outputs=[_tensor_summary(qmodel, n) for n in qmodel.outputs],
        totals=dict(
            macs=sum(r["macs"] for r in rows),
            weight_bytes=sum(r["weight_bytes"] for r in rows),
            arena_bytes=plan.size,
            arena_lower_bound=plan.lower_bound,
        ),
        memory=memory_section(qmodel, plan),
        calibration={**_calibration_summary(qmodel, calibration), **calibration.ptq},
        precision=dict(auto_threshold_db=precision.auto_threshold_db, int16_layers=precision.int16_layers,
                       boundaries=sum(layer.op.value == "requantize" for layer in qmodel.layers)),
        verification=verification,
        layers=rows,
        diagnosis=diagnosis,
        warnings=[w["message"] for w in diagnosis["low_sqnr"]],
        seconds=seconds,
    )


def write(output_dir: Path, report: dict) -> None:
    """report.json, report.md and memory.svg (written again, the same, when a later stage adds to the report)."""
    (output_dir / "report.json").write_text(to_json(report))
    (output_dir / "report.md").write_text(to_markdown(report))
    (output_dir / "memory.svg").write_text(memory_svg.render(report["memory"], report["name"]))


def _calibration_summary(qmodel: QModel, facts: CalibrationFacts) -> dict:
    from_file = sum(1 for name in qmodel.tensors if name in facts.fixed_by_model)
    calibrated = facts.samples is not None
    return dict(method=facts.method if calibrated else "none", samples=facts.samples or 0,
                fixed_by_model=from_file, calibrated=len(qmodel.tensors) - from_file if calibrated else 0)


def _tensor_summary(qmodel: QModel, name: str) -> dict:
    t = qmodel.tensors[name]
    return dict(name=name, shape=list(t.shape), scale=t.scale, zero_point=t.zero_point)
