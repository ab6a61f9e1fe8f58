"""The float-IR steps of post-training quantization, in order: cross-layer equalization (optional),
calibration (activation ranges), bias correction (optional). The lowering then takes the corrected
graph and the ranges; verification compares each layer with the graph before bias correction (after
equalization, whose intermediate tensors are rescaled per channel but whose outputs are the model's).

Defaults, measured on the six benchmark models (benchmarks/quant_quality.py; README "Quantization
quality" has the tables):
- calibration ``auto``: the best or near-best output SQNR on every model;
- bias correction on: with ``auto`` it never lowers top-1 agreement with the float model (raises it on
  KWS, ResNet-8 and the keras MNIST model) and raises output SQNR on four models (MNIST opset 9:
  31.6 -> 32.8 dB), at -0.3 dB on KWS and -0.04 dB on ResNet-8;
- cross-layer equalization off: weights are already quantized per output channel, which is what CLE
  balances for per-tensor schemes, and rescaling channels unbalances the per-tensor activation ranges
  instead: on KWS it lowers SQNR for every method (auto 31.4 -> 29.9 dB, minmax 27.2 -> 25.7 dB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from mcuq.calib import bias_correction, calibrate, equalize, float_runs
from mcuq.ir.float_exec import FloatRuns
from mcuq.ir.graph import Graph

DEFAULT_METHOD = "auto"
DEFAULT_BIAS_CORRECTION = True
DEFAULT_EQUALIZATION = False


@dataclass
class Prepared:
    reference: Graph  # the float graph the int8 model stands for, layer by layer
    graph: Graph  # what the lowering quantizes (biases corrected when asked)
    ranges: dict[str, tuple[float, float]]
    summary: dict = field(default_factory=dict)  # for the report
    runs: FloatRuns | None = None  # ``reference``'s activations on the calibration samples, for later passes


def _quiet(_: str) -> None:
    pass


def prepare(graph: Graph, samples: np.ndarray, method: str = DEFAULT_METHOD,
            bias_correct: bool = DEFAULT_BIAS_CORRECTION, equalization: bool = DEFAULT_EQUALIZATION,
            say: Callable[[str], None] = _quiet) -> Prepared:
    summary = dict(method=method, samples=len(samples), bias_correction=bias_correct, equalization=equalization)
    if equalization:
        result = equalize.equalize(graph)
        graph = result.graph
        summary.update(equalized_pairs=[list(p) for p in result.pairs], equalization_skipped=result.skipped)
        say(f"cross-layer equalization: {len(result.pairs)} layer pairs balanced"
            + (f", {len(result.skipped)} left alone ({result.skipped[0]}...)" if result.skipped else ""))
    say(f"calibrating on {len(samples)} samples ({method})")
    runs = float_runs(graph, samples)  # one float pass, read by calibration and bias correction
    ranges = calibrate(graph, samples, method, runs=runs)
    corrected = graph
    if bias_correct:
        say("correcting biases for the weights' int8 rounding")
        corrected = bias_correction.correct_biases(graph, samples, runs)
    return Prepared(graph, corrected, ranges, summary, runs)
