"""The observers' fast paths against what they replace: the same floats, bit for bit."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mcuq.calib.histogram import MAX_BINS, Histogram, bin_indices
from mcuq.calib.observe import SMALL_ARRAY, PercentileObserver, order_statistics, tail_percentiles

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def activations(draw) -> np.ndarray:
    """Tensors as calibration sees them: small and large (past SMALL_ARRAY: the sampled-threshold path),
    Gaussian, ReLU-like (many exact zeros), few distinct values, constant; float32 or float64."""
    size = draw(st.one_of(st.integers(1, 50), st.integers(SMALL_ARRAY - 2, 3 * SMALL_ARRAY),
                          st.integers(3 * SMALL_ARRAY, 20 * SMALL_ARRAY)))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    kind = draw(st.sampled_from(["normal", "relu", "few", "constant", "outliers"]))
    if kind == "normal":
        values = rng.normal(size=size)
    elif kind == "relu":
        values = np.maximum(rng.normal(size=size), 0.0)
    elif kind == "few":
        values = rng.choice([-2.0, 0.0, 0.5, 7.0], size)
    elif kind == "constant":
        values = np.full(size, 1.5)
    else:
        values = rng.standard_cauchy(size)
    return values.astype(draw(st.sampled_from([np.float32, np.float64])))


@EXAMPLES
@given(activations(), st.sampled_from([99.99, 99.9, 99.0, 90.0, 75.0, 50.0]))
def test_tail_percentiles_equal_np_percentile(flat, percentile):
    expected = (float(np.percentile(flat, 100.0 - percentile)), float(np.percentile(flat, percentile)))
    got = tail_percentiles(flat, 100.0 - percentile, percentile)
    assert got == expected and [np.signbit(v) for v in got] == [np.signbit(v) for v in expected]


@EXAMPLES
@given(activations(), st.data())
def test_order_statistics_equal_sorting(flat, data):
    near_end = st.integers(0, min(flat.size - 1, 40))
    ends = data.draw(st.lists(near_end, min_size=1, max_size=4))
    indices = [*ends, *(flat.size - 1 - i for i in data.draw(st.lists(near_end, min_size=1, max_size=4)))]
    expected = np.sort(flat)[indices]
    np.testing.assert_array_equal(np.array(order_statistics(flat, indices)), expected)


def test_percentile_observer_keeps_its_results():
    # The observer as first written: np.percentile of each batch, averaged by batch size.
    rng = np.random.default_rng(5)
    batches = [rng.normal(size=(64, 12, 12, 8)).astype(np.float32) for _ in range(3)]
    observer = PercentileObserver()
    for batch in batches:
        observer.observe(batch)
    lows = [float(np.percentile(b.reshape(-1), 100.0 - 99.99)) for b in batches]
    highs = [float(np.percentile(b.reshape(-1), 99.99)) for b in batches]
    weights = np.asarray([b.size for b in batches], dtype=np.float64)
    assert observer.range() == (float(np.average(lows, weights=weights)), float(np.average(highs, weights=weights)))
    assert observer.range()[0] == pytest.approx(-3.7, abs=0.3)


TINY = -np.array([1.0, 3.0, 1000.0], np.float32) * np.float32(2.0**-149)  # negative float32 subnormals


@EXAMPLES
@given(activations(), st.integers(-200, 8), st.sampled_from([1.0, 1e-30, 1e30, 2.0**-140]))
@example(TINY, 8, 1.0)  # quotients that float32 would round to -0.0 (floor 0, not -1)
@example(TINY, -160, 1.0)  # a width float32 cannot hold
def test_bin_indices_in_float32_equal_float64(flat, exponent, scale):
    values = (flat * scale).astype(flat.dtype)
    values = values[np.isfinite(values) & (values != 0)]
    width = 2.0**exponent
    expected = np.floor(values.astype(np.float64) / width)
    if np.abs(expected).max(initial=0.0) >= 2.0**62:
        return  # past int64: neither path can hold the index
    np.testing.assert_array_equal(bin_indices(values, width), expected.astype(np.int64))


@EXAMPLES
@given(activations(), st.integers(1, 5), st.sampled_from([16, 300, MAX_BINS]))
def test_histogram_of_float32_values_equals_that_of_their_float64_copy(flat, batches, max_bins):
    # Main binned every tensor as a float64 copy; float32 batches must give the same histogram.
    as32, as64 = Histogram(max_bins=max_bins), Histogram(max_bins=max_bins)
    for batch in np.array_split(flat.astype(np.float32), batches):
        as32.observe(batch)
        as64.observe(batch.astype(np.float64))
    assert (as32.width, as32.first, as32.zeros, as32.lo, as32.hi) == (as64.width, as64.first, as64.zeros, as64.lo, as64.hi)
    np.testing.assert_array_equal(as32.counts, as64.counts)
