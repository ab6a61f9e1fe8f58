"""The fast range searches against the straightforward ones they replace: same results, bit for bit, on
random histograms (the simple versions are kept here as the reference)."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mcuq.calib.histogram import MAX_BINS, Histogram
from mcuq.calib.range_search import (
    FRACTIONS,
    INT8_MAX,
    INT8_MIN,
    KL_BINS,
    MSE_ROUNDS,
    bin_moments,
    bins_below,
    entropy_range,
    estimated_divergences,
    estimated_errors,
    grids,
    kl_divergence,
    kl_tables,
    least_error,
    level_edges,
    levels,
    mse_range,
    settle_edges,
    squared_errors,
)

EXAMPLES = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _values(kind: str, size: int, scale: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        values = rng.normal(size=size)
    elif kind == "relu":
        values = np.maximum(rng.normal(0.3, 1.0, size), 0.0)
    elif kind == "uniform":
        values = rng.uniform(-0.2, 1.0, size)
    elif kind == "outliers":
        values = rng.normal(size=size)
        values[: max(1, size // 500)] *= 40.0
    else:  # "spiky": few distinct values, as pixels of a constant background
        values = rng.choice([-1.0, 0.0, 0.25, 0.5, 3.0], size)
    return (values * scale).astype(np.float32)


@st.composite
def histograms(draw) -> Histogram:
    kind = draw(st.sampled_from(["normal", "relu", "uniform", "outliers", "spiky"]))
    values = _values(kind, draw(st.integers(1, 4000)), 10.0 ** draw(st.integers(-6, 6)), draw(st.integers(0, 2**31)))
    # Few bins merge neighbours often, so that the outermost centres are clipped to the extremes.
    hist = Histogram(max_bins=draw(st.sampled_from([16, 300, MAX_BINS])))
    for batch in np.array_split(values, draw(st.integers(1, 4))):
        hist.observe(batch)
    return hist


def _reference_best_end(hist, fixed, extreme, high):
    candidates = list(extreme * FRACTIONS)
    ranges = [(fixed, c) if high else (c, fixed) for c in candidates]
    return float(candidates[int(np.argmin(squared_errors(hist, ranges)))])


def _reference_mse_range(hist):
    """`mse_range` as first written: every round searches both ends over all candidates, exactly."""
    lo, hi = min(hist.lo, 0.0), max(hist.hi, 0.0)
    if not len(hist.counts):
        return lo, hi
    new_lo, new_hi = lo, hi
    for _ in range(MSE_ROUNDS):
        if hi > 0:
            new_hi = _reference_best_end(hist, new_lo, hi, high=True)
        if lo < 0:
            new_lo = _reference_best_end(hist, new_hi, lo, high=False)
    return new_lo, new_hi


@EXAMPLES
@given(histograms())
def test_mse_range_equals_the_exhaustive_search(hist):
    fast, reference = mse_range(hist), _reference_mse_range(hist)
    assert fast == reference and [type(v) for v in fast] == [type(v) for v in reference]


@st.composite
def candidate_ranges(draw, hist):
    lo, hi = min(hist.lo, 0.0), max(hist.hi, 0.0)
    fractions = st.floats(1e-5, 1.5)
    count = draw(st.integers(1, 40))
    return [(lo * draw(fractions), hi * draw(fractions)) for _ in range(count)]


@st.composite
def histogram_and_ranges(draw):
    """A histogram with at least one bin, and candidate ranges around its values."""
    hist = draw(histograms().filter(lambda h: len(h.counts) > 0))
    return hist, draw(candidate_ranges(hist))


@EXAMPLES
@given(st.data())
def test_estimated_errors_bound_the_exact_errors_and_least_error_is_argmin(data):
    hist = data.draw(histograms())
    ranges = data.draw(candidate_ranges(hist))
    exact = squared_errors(hist, ranges)
    moments = bin_moments(hist)
    assert least_error(hist, moments, ranges) == int(np.argmin(exact))
    if moments is not None and len(hist.counts):
        estimate, bound = estimated_errors(moments, *grids(ranges))
        assert np.all(np.abs(estimate - exact) <= bound)


@EXAMPLES
@given(st.data())
def test_squared_errors_of_a_subset_are_those_rows_of_the_whole(data):
    # least_error recomputes only its contenders' errors: each must be the float the whole search computes.
    hist = data.draw(histograms())
    ranges = data.draw(candidate_ranges(hist))
    subset = sorted(data.draw(st.sets(st.integers(0, len(ranges) - 1), min_size=1)))
    whole = squared_errors(hist, ranges)
    np.testing.assert_array_equal(squared_errors(hist, [ranges[i] for i in subset]), whole[subset])


@EXAMPLES
@given(st.data())
def test_bins_below_equals_searchsorted(data):
    hist = data.draw(histograms())
    moments = bin_moments(hist)
    if moments is None or not len(hist.counts):
        return
    centers = (2 * (np.arange(len(hist.counts)) + hist.first) + 1) * moments.half
    picked = centers[data.draw(st.lists(st.integers(0, len(centers) - 1), min_size=1, max_size=20))]
    # Thresholds on a centre, one ulp either side of it, and anywhere around the bins.
    around = data.draw(st.lists(st.floats(-2.0, 2.0), min_size=1, max_size=20))
    thresholds = np.concatenate([picked, np.nextafter(picked, np.inf), np.nextafter(picked, -np.inf),
                                 np.asarray(around) * max(abs(centers[0]), abs(centers[-1]))])
    np.testing.assert_array_equal(bins_below(moments, thresholds), np.searchsorted(centers, thresholds, side="left"))


def _reference_entropy_range(hist):
    """`entropy_range` as first written: the exact divergence of every candidate."""
    lo, hi = min(hist.lo, 0.0), max(hist.hi, 0.0)
    if not len(hist.counts) or hi - lo <= 0:
        return lo, hi
    hist = hist.coarsened(KL_BINS)
    least = (INT8_MAX - INT8_MIN + 1) * hist.width / (hi - lo)
    candidates = [t for t in FRACTIONS if t >= least] or [1.0]
    divergences = [kl_divergence(hist, t * lo, t * hi) for t in candidates]
    t = candidates[int(np.argmin(divergences))]
    return t * lo, t * hi


@EXAMPLES
@given(histograms())
def test_entropy_range_equals_the_exhaustive_search(hist):
    fast, reference = entropy_range(hist), _reference_entropy_range(hist)
    assert fast == reference and [type(v) for v in fast] == [type(v) for v in reference]


@EXAMPLES
@given(st.data())
def test_estimated_divergences_bound_the_exact_ones(data):
    hist, ranges = data.draw(histogram_and_ranges())
    lo, hi = np.array([r[0] for r in ranges]), np.array([r[1] for r in ranges])
    estimate, bound = estimated_divergences(kl_tables(hist), lo, hi)
    exact = np.array([kl_divergence(hist, a, b) for a, b in ranges])
    finite = np.isfinite(exact)
    np.testing.assert_array_equal(np.isfinite(estimate), finite)
    assert np.all(np.abs(estimate[finite] - exact[finite]) <= bound[finite])


@EXAMPLES
@given(st.data())
def test_level_edges_split_the_bins_by_their_levels(data):
    hist, ranges = data.draw(histogram_and_ranges())
    tables = kl_tables(hist)
    scales, zps = grids(ranges)
    bins = len(tables.centers)
    first = np.array(data.draw(st.lists(st.integers(0, bins - 1), min_size=len(ranges), max_size=len(ranges))))
    last = np.minimum(first + np.array(data.draw(st.lists(st.integers(1, bins), min_size=len(ranges),
                                                               max_size=len(ranges)))), bins)
    edges = level_edges(tables, first, last, scales, zps)
    for row, (a, b) in enumerate(zip(first, last)):
        level = levels(tables.centers[a:b], scales[row], zps[row]) - INT8_MIN
        expected = a + np.searchsorted(level, np.arange(INT8_MAX - INT8_MIN + 2), side="left")
        np.testing.assert_array_equal(edges[row], expected)


@EXAMPLES
@given(st.data())
def test_settle_edges_finds_each_level_from_any_start(data):
    hist, ranges = data.draw(histogram_and_ranges())
    centers = kl_tables(hist).centers
    scales, zps = grids(ranges[:1])
    level = levels(centers, scales[0], zps[0]) - INT8_MIN
    expected = np.searchsorted(level, np.arange(INT8_MAX - INT8_MIN + 2), side="left")
    start = data.draw(st.lists(st.integers(0, len(centers)), min_size=INT8_MAX - INT8_MIN, max_size=INT8_MAX - INT8_MIN))
    edges = np.array([[0, *start, len(centers)]], np.int64)
    settle_edges(centers, edges, scales, zps)
    np.testing.assert_array_equal(edges[0], expected)
