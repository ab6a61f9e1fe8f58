"""The histogram and the MSE / entropy range searches, on synthetic distributions."""

import numpy as np
import pytest

from mcuq.calib import MinMaxObserver, calibrate
from mcuq.calib.histogram import Histogram
from mcuq.calib.range_search import entropy_range, fake_quantize, kl_divergence, mse_range, squared_errors


def _histogram(values, batches=1):
    hist = Histogram()
    for batch in np.array_split(values, batches):
        hist.observe(batch)
    return hist


def _gaussian_with_outliers(n=1_000_000, seed=0):
    """A unit Gaussian bulk and a handful of far outliers (the classic case for clipping)."""
    values = np.random.default_rng(seed).normal(size=n)
    values[:3] = [30.0, -25.0, 20.0]
    return values


def test_histogram_does_not_depend_on_batching():
    values = _gaussian_with_outliers(100_000)
    # The first batch holds only the bulk, so later batches must extend and merge bins.
    values = np.concatenate([values[1000:], values[:1000]])
    one, many = _histogram(values, 1), _histogram(values, 17)
    assert many.width == one.width and many.first == one.first
    np.testing.assert_array_equal(many.counts, one.counts)
    assert many.total == one.total == values.size
    assert len(many.counts) <= many.max_bins


def test_histogram_counts_exact_zeros_apart():
    values = np.concatenate([np.zeros(500), np.random.default_rng(1).uniform(0.1, 2.0, 1500)])
    hist = _histogram(values)
    assert hist.zeros == 500 and int(hist.counts.sum()) == 1500
    assert (hist.lo, hist.hi) == (0.0, values.max())


def test_mse_clips_gaussian_outliers_and_beats_minmax():
    values = _gaussian_with_outliers()
    hist = _histogram(values, 8)
    lo, hi = mse_range(hist)
    assert 2.5 < hi < 0.5 * values.max() and 0.5 * values.min() < lo < -2.5, (lo, hi)
    # On the values themselves (not just the histogram) the error is lower than min-max's.
    err_mse = np.sum((values - fake_quantize(values, lo, hi)) ** 2)
    err_minmax = np.sum((values - fake_quantize(values, values.min(), values.max())) ** 2)
    assert err_mse < 0.5 * err_minmax, (err_mse, err_minmax)
    # And it is the best of the ranges it could have chosen, by the histogram's own estimate.
    nearby = [(lo * f, hi * g) for f in (0.8, 1.0, 1.25) for g in (0.8, 1.0, 1.25)]
    errors = squared_errors(hist, nearby)
    assert errors[4] == pytest.approx(errors.min())


def test_mse_keeps_the_range_of_a_uniform_distribution():
    values = np.random.default_rng(2).uniform(-1.0, 3.0, 200_000)
    lo, hi = mse_range(_histogram(values))
    assert lo < -0.95 and hi > 2.9  # nothing to gain by clipping a flat distribution


def test_entropy_clips_a_long_tail_of_relu_outputs():
    rng = np.random.default_rng(3)
    values = np.maximum(rng.normal(size=300_000), 0.0)
    values[:3] = [20.0, 25.0, 30.0]
    hist = _histogram(values, 4)
    lo, hi = entropy_range(hist)
    assert lo == 0.0 and 2.0 < hi < 10.0, hi
    assert kl_divergence(hist, lo, hi) < kl_divergence(hist, 0.0, values.max())


def test_calibrate_with_the_new_methods_gives_ranges_for_every_tensor():
    from tests.calib.test_calibrate import _relu_graph

    samples = np.random.default_rng(4).normal(size=(300, 4)).astype(np.float32)
    minmax = calibrate(_relu_graph(), samples, "minmax")
    for method in ("mse", "entropy"):
        ranges = calibrate(_relu_graph(), samples, method)
        assert set(ranges) == {"x", "y"}
        for name, (lo, hi) in ranges.items():
            assert minmax[name][0] <= lo <= 0.0 <= hi <= minmax[name][1]


def test_minmax_observer_and_histogram_agree_on_extremes():
    values = _gaussian_with_outliers(10_000)
    obs = MinMaxObserver()
    obs.observe(values)
    hist = _histogram(values, 3)
    assert (hist.lo, hist.hi) == obs.range()
