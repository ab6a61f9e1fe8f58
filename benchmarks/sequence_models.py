"""Issue 14's sequence models for the firmware benchmark: the GRU and LSTM keyword-spotting nets, the 2-layer
keyword transformer and the 2-layer ViT of the real-export suite (tests/helpers/torch_nets.py), exported by
torch's default (dynamo) exporter with the suite's seeded weights and inputs. Needs torch and onnxscript
(the `torch` extra); without them the benchmark lists the models and skips them."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the test helpers

from tests.helpers import torch_export  # noqa: E402

SEQUENCE_MODELS = ("gru_kws", "lstm_kws", "keyword_transformer", "tiny_vit")
CALIBRATION_SAMPLES = 64


def torch_available() -> bool:
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "onnxscript"))


def sequence_cases(folder: Path | None):
    """(name, ONNX path, calibration samples) per model, exported into folder; with no folder, or without
    torch, the names only (path and samples None)."""
    for name in SEQUENCE_MODELS:
        if folder is None or not torch_available():
            yield name, None, None
            continue
        model = torch_export.MODELS[name]
        path = torch_export.export(model, "dynamo", folder / f"{name}.onnx")
        yield name, path, torch_export.samples(model, CALIBRATION_SAMPLES, seed=1)
