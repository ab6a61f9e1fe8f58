"""Calibration: run the float IR on sample inputs and observe the range of every activation.

An observer sees batches of one tensor's values and returns a (min, max) range. ``minmax`` takes the
extremes; ``percentile`` clips outliers at a percentile of |x| (more resolution for the bulk of the
values at the cost of clipping a few).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import float_exec
from .errors import CalibrationError
from .ir import Graph

BATCH = 64


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


OBSERVERS: dict[str, Callable[[], object]] = {
    "minmax": MinMaxObserver,
    "percentile": PercentileObserver,
}


def calibrate(graph: Graph, samples: np.ndarray, method: str = "minmax",
              progress: Callable[[int, int], None] | None = None) -> dict[str, tuple[float, float]]:
    """Ranges of the graph input and of every node output, observed over ``samples`` (IR layout)."""
    if method not in OBSERVERS:
        raise CalibrationError(
            f"unknown calibration method {method!r}; choose one of {', '.join(sorted(OBSERVERS))}"
        )
    names = list(graph.inputs) + [out for node in graph.nodes for out in node.outputs]
    observers = {name: OBSERVERS[method]() for name in names}
    input_name = graph.inputs[0]
    for start in range(0, len(samples), BATCH):
        batch = samples[start : start + BATCH]
        values = float_exec.run(graph, {input_name: batch})
        for name, observer in observers.items():
            observer.observe(values[name])
        if progress:
            progress(min(start + BATCH, len(samples)), len(samples))
    return {name: observer.range() for name, observer in observers.items()}
