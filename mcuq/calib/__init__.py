"""Calibration, the first stage of post-training quantization: the range of every activation.

`observe` runs the float IR on the samples and feeds one observer per tensor (minmax, percentile, and
the histogram methods of `range_search`); `auto` picks one of those per tensor by the error it causes
downstream; `equalize` and `bias_correction` change the float weights before quantization. `calibrate`
is the switch between the methods.
"""

from __future__ import annotations

import numpy as np

from mcuq.calib.auto import calibrate_auto
from mcuq.calib.observe import (
    METHODS,
    OBSERVERS,
    MinMaxObserver,
    PercentileObserver,
    Progress,
    batches,
    float_runs,
    observe,
)
from mcuq.errors import CalibrationError
from mcuq.ir.float_exec import FloatRuns
from mcuq.ir.graph import Graph

__all__ = ["METHODS", "OBSERVERS", "MinMaxObserver", "PercentileObserver", "batches", "calibrate", "float_runs",
           "observe"]


def calibrate(graph: Graph, samples: np.ndarray, method: str = "minmax",
              progress: Progress | None = None, runs: FloatRuns | None = None) -> dict[str, tuple[float, float]]:
    """Ranges of the graph input and of every node output, observed over ``samples`` (IR layout);
    ``runs``: the graph's activations on them (`observe.float_runs`), shared with other passes."""
    if method == "auto":
        return calibrate_auto(graph, samples, progress, runs=runs).ranges
    if method not in OBSERVERS:
        raise CalibrationError(f"unknown calibration method {method!r}; choose one of {', '.join(METHODS)}")
    observers = observe(graph, samples, OBSERVERS[method], progress, runs)
    return {name: observer.range() for name, observer in observers.items()}
