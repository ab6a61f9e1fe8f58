"""Keyword-spotting nets with a GRU or an LSTM over 49 frames of 10 MFCC-like features, exported with both
PyTorch exporters, and their quality measured the way tests/helpers/real_exports.py measures real exports:
mcuq's C output and ONNX Runtime's `quantize_static` (MinMax and Percentile, per channel, QDQ) against ONNX
Runtime on the float model, on the same calibration and verification samples.

The heads read the output sequence's last step (``y[:, -1]``); ``h[-1]`` on the LSTM's Y_h is a Gather along
the first axis, which the frontend does not take yet."""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import mcuq
from tests.helpers.real_exports import ORT_METHODS, Quality, other_quantizers, quality
from tests.helpers.torch_export import EXPORTERS, SEED

FRAMES, FEATURES = 49, 10
FORMS = ("dynamo", "torchscript-17")


def mfcc_like(n: int, seed: int) -> np.ndarray:
    """[n, 49, 10]: features that change slowly over time (a coarse random walk held over 7 frames) with
    larger low coefficients, plus frame noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.normal(0, 1, size=(n, FRAMES // 7, FEATURES)) * np.linspace(1.5, 0.5, FEATURES)
    return (np.repeat(coarse, 7, axis=1) + rng.normal(0, 0.3, size=(n, FRAMES, FEATURES))).astype(np.float32)


def build(kind: str, hidden: int = 32, classes: int = 12):
    import torch
    from torch import nn

    class KeywordNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = (nn.GRU if kind == "gru" else nn.LSTM)(FEATURES, hidden, batch_first=True)
            self.fc = nn.Linear(hidden, classes)

        def forward(self, x):
            y, _ = self.rnn(x)
            return self.fc(y[:, -1])

    torch.manual_seed(SEED)
    return KeywordNet().eval()


def export(kind: str, form: str, path: Path, hidden: int = 32) -> Path:
    import torch

    log = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        warnings.simplefilter("ignore")
        torch.onnx.export(build(kind, hidden), (torch.zeros(1, FRAMES, FEATURES),), str(path), input_names=["x"],
                          output_names=["y"], external_data=False, **EXPORTERS[form])
    return path


@dataclass
class RecurrentMeasurement:
    compiled: object
    mcuq: Quality
    ort: dict[str, Quality]

    @property
    def best_ort_sqnr(self) -> float:
        return max(q.sqnr_db for q in self.ort.values())


def measure(path: Path, output_dir: Path, n_calib: int = 64, n_verify: int = 32, **options) -> RecurrentMeasurement:
    calib, verify = mfcc_like(n_calib, seed=1), mfcc_like(n_verify, seed=2)
    compiled = mcuq.compile(path, calib, output_dir, verify_data=verify, force=True, **options)
    ort = other_quantizers()
    reference = ort.run_onnx(path, verify)
    others = {method: quality(reference, ort.ort_outputs(path, calib, verify, method)[0]) for method in ORT_METHODS}
    return RecurrentMeasurement(compiled, quality(reference, compiled.run(verify)), others)
