"""Observers: min-max keeps the extremes, percentile clips rare outliers."""

import numpy as np
import pytest

from mcuq.calib import MinMaxObserver, PercentileObserver, calibrate
from mcuq.errors import CalibrationError
from mcuq.ir.graph import Graph, Node, Tensor


def test_minmax_keeps_extremes_across_batches():
    obs = MinMaxObserver()
    obs.observe(np.array([0.5, -1.0]))
    obs.observe(np.array([3.0, 0.0]))
    assert obs.range() == (-1.0, 3.0)


def test_percentile_clips_a_rare_outlier():
    values = np.random.default_rng(0).normal(size=100_000)
    values[7] = 1000.0
    minmax, pct = MinMaxObserver(), PercentileObserver(percentile=99.9)
    for batch in np.split(values, 4):
        minmax.observe(batch)
        pct.observe(batch)
    assert minmax.range()[1] == 1000.0
    lo, hi = pct.range()
    assert 2.5 < hi < 4.0 and -4.0 < lo < -2.5


def _relu_graph():
    tensors = {"x": Tensor("x", (1, 4)), "y": Tensor("y", (1, 4))}
    node = Node("clip", "relu", ("x",), ("y",), {"act_min": 0.0, "act_max": np.inf})
    return Graph(tensors, [node], ["x"], ["y"])


def test_calibrate_observes_inputs_and_every_node_output():
    samples = np.array([[-2.0, 1.0, 0.5, 3.0], [0.0, -1.0, 2.0, 4.0]], dtype=np.float32)
    ranges = calibrate(_relu_graph(), samples, "minmax")
    assert ranges == {"x": (-2.0, 4.0), "y": (0.0, 4.0)}


def test_unknown_method_is_a_clear_error():
    with pytest.raises(CalibrationError, match="auto, entropy, minmax, mse, percentile"):
        calibrate(_relu_graph(), np.zeros((1, 4), np.float32), "kl")
