"""Metrics of the int8 model against its references.

Against the golden model the contract is equality (0 LSB). Against the float model it is closeness:
SQNR in dB, max abs error, top-1 agreement.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


def sqnr_db(reference: np.ndarray, test: np.ndarray) -> float:
    """Signal to quantization-noise ratio, 10*log10(sum ref^2 / sum (ref - test)^2); inf when equal."""
    ref = np.asarray(reference, dtype=np.float64)
    noise = np.sum((ref - np.asarray(test, dtype=np.float64)) ** 2)
    signal = np.sum(ref**2)
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))


def top1_agreement(reference: np.ndarray, test: np.ndarray) -> float:
    """Share of samples (first axis) whose arg-max over the flattened rest agrees."""
    ref = np.asarray(reference).reshape(len(reference), -1)
    tst = np.asarray(test).reshape(len(test), -1)
    return float(np.mean(ref.argmax(axis=1) == tst.argmax(axis=1)))


@dataclass
class OutputMetrics:
    name: str
    sqnr_db: float
    max_abs_error: float
    top1_agreement: float | None  # None for outputs that are not class scores

    def to_dict(self) -> dict:
        return asdict(self)


def compare_outputs(name: str, float_out: np.ndarray, dequant_out: np.ndarray) -> OutputMetrics:
    per_sample = float_out.reshape(len(float_out), -1)
    is_scores = per_sample.shape[1] > 1
    return OutputMetrics(
        name=name,
        sqnr_db=sqnr_db(float_out, dequant_out),
        max_abs_error=float(np.max(np.abs(float_out.astype(np.float64) - dequant_out))),
        top1_agreement=top1_agreement(float_out, dequant_out) if is_scores else None,
    )


def lsb_mismatch(golden_out: np.ndarray, c_out: np.ndarray) -> tuple[int, int]:
    """(number of differing elements, largest difference in LSB)."""
    diff = np.abs(golden_out.astype(np.int32) - c_out.astype(np.int32))
    return int(np.count_nonzero(diff)), int(diff.max(initial=0))
