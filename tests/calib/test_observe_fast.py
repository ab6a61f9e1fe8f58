"""The observers' fast paths against what they replace: the same floats, bit for bit."""

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mcuq.calib.histogram import MAX_BINS, Histogram, bin_indices, bin_width
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


def _reference_observe(hist: Histogram, values: np.ndarray) -> None:
    """`Histogram.observe` as first written: a float64 copy, the non-zero values copied out, one k each."""
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    nonzero = flat[flat != 0]
    hist.zeros += flat.size - nonzero.size
    if flat.size:
        hist.lo, hist.hi = min(hist.lo, float(flat.min())), max(hist.hi, float(flat.max()))
    if not nonzero.size:
        return
    if hist.width == 0.0:
        hist.width = bin_width(max(hist.hi, 0.0) - min(hist.lo, 0.0))
    k = np.floor(nonzero / hist.width).astype(np.int64)
    hist._cover(int(k.min()), int(k.max()))
    while len(hist.counts) > hist.max_bins:
        hist._coarsen()
        k = k // 2
    hist.counts += np.bincount(k - hist.first, minlength=len(hist.counts))


@EXAMPLES
@given(activations(), st.integers(1, 5), st.sampled_from([16, 300, MAX_BINS]), st.booleans())
def test_histogram_equals_the_reference_binning(flat, batches, max_bins, outliers_last):
    if outliers_last:  # later batches reach past the first's bins: they extend and merge them
        flat = np.concatenate([flat, flat[:3] * 1000])
    fast, reference = Histogram(max_bins=max_bins), Histogram(max_bins=max_bins)
    for batch in np.array_split(flat, batches):
        fast.observe(batch)
        _reference_observe(reference, batch)
    assert (fast.width, fast.first, fast.zeros, fast.lo, fast.hi) == (reference.width, reference.first,
                                                                      reference.zeros, reference.lo, reference.hi)
    np.testing.assert_array_equal(fast.counts, reference.counts)
