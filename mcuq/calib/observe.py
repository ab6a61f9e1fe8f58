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
        low, high = tail_percentiles(flat, 100.0 - self.percentile, self.percentile)
        self.lows.append(low)
        self.highs.append(high)
        self.weights.append(flat.size)

    def range(self) -> tuple[float, float]:
        w = np.asarray(self.weights, dtype=np.float64)
        return float(np.average(self.lows, weights=w)), float(np.average(self.highs, weights=w))


# Arrays up to this size are partitioned whole; larger ones first keep only the values beyond thresholds
# taken from a random sample of this many values (`order_statistics`).
SMALL_ARRAY = 1 << 14


def tail_percentiles(flat: np.ndarray, low: float, high: float) -> tuple[float, float]:
    """``float(np.percentile(flat, low)), float(np.percentile(flat, high))`` bit for bit, for finite values
    and a low and a high percentile (below and above the median): np.percentile partitions all of ``flat``
    for each; here only the few values beyond each percentile are sorted (`order_statistics`), and the
    interpolation repeats np.percentile's linear method step by step (`numpy_linear_interpolation`)."""
    (low_index, low_gamma), (high_index, high_gamma) = (percentile_position(flat.size, q) for q in (low, high))
    wanted = [low_index, min(low_index + 1, flat.size - 1), high_index, min(high_index + 1, flat.size - 1)]
    below, above, high_below, high_above = order_statistics(flat, wanted)
    return (float(numpy_linear_interpolation(below, above, low_gamma)),
            float(numpy_linear_interpolation(high_below, high_above, high_gamma)))


def percentile_position(size: int, q: float) -> tuple[int, float]:
    """(index of the sorted value below, interpolation weight) as np.percentile's "linear" method computes
    them for ``size`` values and a Python float ``q``: the virtual index (size - 1) * (q / 100) in float64,
    its floor, and the weight of the value above; at or past the last index, the last value (weight
    ``virtual index + 1``, numpy's, which leaves the last value as it is since both neighbours are it)."""
    virtual = (size - 1) * np.true_divide(q, 100)
    if virtual >= size - 1:
        return size - 1, float(virtual + 1)
    below = int(np.floor(virtual))
    return below, float(virtual - below)


def numpy_linear_interpolation(below: np.generic, above: np.generic, gamma: float) -> np.generic:
    """np.percentile's interpolation between two neighbours (numpy's ``_lerp``, in the values' dtype: the
    weight is a Python float), chosen from the nearer end so that gamma = 1 gives ``above`` exactly."""
    diff = above - below
    if gamma >= 0.5:
        return above - diff * (1 - gamma)
    return below + diff * gamma


def order_statistics(flat: np.ndarray, indices: list[int]) -> list[np.generic]:
    """The values at ``indices`` of ``sorted(flat)``, for indices near either end: the values at or below
    a low threshold are the smallest ones (and those at or above a high one the largest), so only those
    are partitioned. The thresholds come from a random sample (fixed seed; a strided one could see a
    single channel), with a margin; where they hold too few values, the whole array is partitioned."""
    size = flat.size
    low = sorted({i for i in indices if i < size // 2})
    high = sorted({i for i in indices if i >= size // 2})
    if size <= SMALL_ARRAY or not low or not high:
        return list(np.partition(flat, sorted(set(indices)))[indices])
    sample = np.sort(flat[np.random.default_rng(0).integers(0, size, SMALL_ARRAY)])
    per_sample = size / SMALL_ARRAY  # values of ``flat`` each sampled value stands for
    low_need, high_need = low[-1] + 1, size - high[0]  # values each tail must hold
    low_cut = sample[min(SMALL_ARRAY - 1, 2 * int(low_need / per_sample) + 16)]
    high_cut = sample[max(0, SMALL_ARRAY - 1 - 2 * int(high_need / per_sample) - 16)]
    lows, highs = flat[flat <= low_cut], flat[flat >= high_cut]
    if lows.size < low_need or highs.size < high_need:
        return list(np.partition(flat, sorted(set(indices)))[indices])
    skipped = size - highs.size  # sorted(highs)[j] is sorted(flat)[j + skipped]
    lows, highs = np.partition(lows, low), np.partition(highs, [i - skipped for i in high])
    return [lows[i] if i < size // 2 else highs[i - skipped] for i in indices]


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
