"""Calibration: run the float IR on sample inputs and observe the range of every activation.

An observer sees batches of one tensor's values and returns a (min, max) range. ``minmax`` takes the
extremes; ``percentile`` clips outliers at a percentile of |x| (more resolution for the bulk of the
values at the cost of clipping a few); ``mse`` and ``entropy`` keep a histogram and search the
clipping range with the least quantization error or KL divergence (`range_search`). ``auto``
(`auto`) picks one of these per tensor by the error each causes downstream.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from mcuq.calib.histogram import Histogram
from mcuq.calib.range_search import entropy_range, mse_range
from mcuq.errors import CalibrationError
from mcuq.ir import float_exec
from mcuq.ir.graph import Graph

BATCH = float_exec.BATCH


@dataclass
class MinMaxObserver:
    lo: float = np.inf
    hi: float = -np.inf

    def observe(self, values: np.ndarray) -> None:
        self.lo = min(self.lo, float(values.min()))
        self.hi = max(self.hi, float(values.max()))

    def range(self) -> tuple[float, float]:
        return self.lo, self.hi


@dataclass
class PercentileObserver:
    """Keeps per-batch percentiles of the low and high tails and averages them (a streaming
    approximation that does not hold all values in memory)."""

    percentile: float = 99.99
    lows: list[float] = field(default_factory=list)
    highs: list[float] = field(default_factory=list)
    weights: list[int] = field(default_factory=list)

    def observe(self, values: np.ndarray) -> None:
        flat = values.reshape(-1)
        self.lows.append(float(np.percentile(flat, 100.0 - self.percentile)))
        self.highs.append(float(np.percentile(flat, self.percentile)))
        self.weights.append(flat.size)

    def range(self) -> tuple[float, float]:
        w = np.asarray(self.weights, dtype=np.float64)
        return float(np.average(self.lows, weights=w)), float(np.average(self.highs, weights=w))


@dataclass
class HistogramObserver:
    """A histogram of the values; ``search`` turns it into a clipping range."""

    search: Callable[[Histogram], tuple[float, float]]
    hist: Histogram = field(default_factory=Histogram)

    def observe(self, values: np.ndarray) -> None:
        self.hist.observe(values)

    def range(self) -> tuple[float, float]:
        return self.search(self.hist)


OBSERVERS: dict[str, Callable[[], object]] = {
    "minmax": MinMaxObserver,
    "percentile": PercentileObserver,
    "mse": partial(HistogramObserver, mse_range),
    "entropy": partial(HistogramObserver, entropy_range),
}
METHODS = tuple(sorted([*OBSERVERS, "auto"]))

Progress = Callable[[int, int], None]


def float_runs(graph: Graph, samples: np.ndarray) -> float_exec.FloatRuns:
    """The float graph's activations on the calibration samples, checked finite, for every pass of
    calibration and bias correction to share."""
    return float_exec.FloatRuns(graph, samples, check=partial(check_finite, graph))


def batches(graph: Graph, samples: np.ndarray, progress: Progress | None = None,
            runs: float_exec.FloatRuns | None = None):
    """Every activation of the float graph, BATCH samples at a time (from ``runs`` when given: the
    same graph on the same samples, run once for all passes)."""
    yield from (runs or float_runs(graph, samples)).batches(progress)


def check_finite(graph: Graph, values: dict[str, np.ndarray], first_sample: int) -> None:
    """Refuse a float model that computes NaN or Inf on the calibration data: no range holds them.
    Names the first node (in execution order) whose output has one."""
    for node in graph.nodes:
        for name in node.outputs:
            bad = ~np.isfinite(values[name])
            if bad.any():
                sample = first_sample + int(np.argmax(bad.reshape(len(bad), -1).any(axis=1)))
                raise CalibrationError(
                    f"the float model computes NaN or Inf in tensor {name!r} (output of {node.op} node "
                    f"{node.name!r}) on calibration sample {sample}: float32 overflows or an undefined operation "
                    "(e.g. log of a negative value); check the calibration data's range against what the model "
                    "was trained on, and the weights that feed this node"
                )


def observe(graph: Graph, samples: np.ndarray, make_observer: Callable[[], object],
            progress: Progress | None = None, runs: float_exec.FloatRuns | None = None) -> dict[str, object]:
    """One observer per graph input and node output, fed with all of ``samples`` (``runs``: their
    float activations, shared with other passes)."""
    names = list(graph.inputs) + [out for node in graph.nodes for out in node.outputs]
    observers = {name: make_observer() for name in names}
    for values in batches(graph, samples, progress, runs):
        for name, observer in observers.items():
            observer.observe(values[name])
    return observers
