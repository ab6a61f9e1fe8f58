"""Clipping-range searches on a tensor's histogram: MSE-optimal clipping and entropy (KL divergence).

Both score a candidate range by what the int8 grid of that range does to the observed values, with
the grid computed exactly as `quant.activation_qparams` will (range widened to hold 0, zero point
rounded), so the search sees the same 256 levels the model will get:

- ``mse_range`` minimises the squared error sum_i n_i (x_i - fq(x_i))^2 over the bin centres x_i:
  rounding error inside the range, clipping error outside it. The low and high ends are searched one
  at a time (coordinate descent, a few rounds) over a grid of fractions of the observed extremes.
- ``entropy_range`` is TensorRT's calibration (Migacz, "8-bit inference with TensorRT", GTC 2017),
  as ONNX Runtime's entropy calibrator does it: for each candidate, the reference distribution P is
  the histogram inside the range with the clipped mass added to the edge bins, Q is the histogram
  inside the range (without that mass) merged into the int8 levels and spread back evenly over the
  non-empty bins of each level; the range with the smallest KL(P || Q) wins. The result depends on
  the bin width (with one bin per level Q equals P), so, as TensorRT does (2048 bins for 128 levels,
  thresholds from bin 128 on), the histogram is merged to at most KL_BINS = 16 bins per int8 level
  over the observed range, and candidates keep at least one bin per level. Candidates shrink the
  observed range towards zero by a common factor (for a non-negative tensor, TensorRT's threshold
  search over [0, t]). Exact zeros are left out of P: they
  cost nothing at any range (0.0 is exact) and would otherwise drag the choice towards narrow ranges.
  KL is blind to where the mass sits inside a level, so on spiky histograms (few distinct values:
  pixels of a constant background, coarse inputs) it can pick poor ranges; `auto` scores it
  downstream like the others.

Speed: both searches score every candidate first from prefix sums over the bins (a few hundred terms
per candidate instead of one per bin: `estimated_errors`, `estimated_divergences`), each estimate with
a rigorous bound on its distance to the exact score, and compute the exact score, as defined above
(`squared_errors`, `kl_divergence`), only for the candidates that could still be the least. The
chosen range is the exhaustive search's, bit for bit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mcuq.calib.histogram import Histogram
from mcuq.quant.lower import INT8_MAX, INT8_MIN, activation_qparams

# Fractions of the observed extreme tried as a clipping point: fine steps near the extreme, geometric
# ones far below it (a Gaussian with one huge outlier wants a clip at a few standard deviations).
FRACTIONS = np.unique(np.concatenate([np.geomspace(1e-4, 1.0, 128), np.linspace(1.0 / 128, 1.0, 128)]))
MSE_ROUNDS = 3
KL_BINS = 16 * 256


def grids(ranges: list[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(scales, zero points) of each candidate range, as the lowering will choose them."""
    params = [activation_qparams(lo, hi) for lo, hi in ranges]
    return np.array([s for s, _ in params]), np.array([z for _, z in params], dtype=np.float64)


def levels(values: np.ndarray, scale, zero_point) -> np.ndarray:
    """The int8 level each value rounds to (broadcasting over candidates)."""
    return np.clip(np.round(values / scale) + zero_point, INT8_MIN, INT8_MAX)


def fake_quantize(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``values`` through the int8 grid of the range (lo, hi): quantize, clamp, dequantize."""
    scale, zero_point = activation_qparams(lo, hi)
    return ((levels(values, scale, zero_point) - zero_point) * scale).astype(values.dtype)


def squared_errors(hist: Histogram, ranges: list[tuple[float, float]]) -> np.ndarray:
    """Total squared quantization error of the histogram's values under each candidate range."""
    return error_terms(*hist.support(), *grids(ranges)).sum(axis=1)


def error_terms(centers: np.ndarray, counts: np.ndarray, scales: np.ndarray, zps: np.ndarray) -> np.ndarray:
    """n (x - fq(x))^2 of each bin (columns) under each candidate grid (rows)."""
    deq = (levels(centers[None, :], scales[:, None], zps[:, None]) - zps[:, None]) * scales[:, None]
    return (centers[None, :] - deq) ** 2 * counts[None, :]


# The unit roundoff of float64: every float operation's relative error is at most this.
ROUNDOFF = 2.0**-53


@dataclass(frozen=True)
class BinMoments:
    """A histogram's bins, for estimating `squared_errors` of many candidates from a few hundred sums each
    instead of one term per bin. The centre of bin k is (2k+1) * half (half: half the bin width), so the
    prefix sums of n, n*m and n*m^2 with m = 2k+1 are exact integers; the centres clipped to the
    extremes (at most the two outermost bins) are not of that form and are kept apart."""

    first: int  # k of the first bin
    half: float
    prefix: tuple[np.ndarray, np.ndarray, np.ndarray]  # exact int64 prefix sums of n, n*m, n*m^2 (length bins+1)
    apart: tuple[np.ndarray, np.ndarray]  # centres and counts of the bins left out of ``prefix``
    abs_moment: float  # sum of n*|x| over all bins, for the bound of `estimated_errors`
    abs_moment_m: float  # sum of n*|m| over the bins in ``prefix``


def bin_moments(hist: Histogram) -> BinMoments | None:
    """`BinMoments` of the histogram; None where it has no bins, where int64 could overflow or where the bin
    width is so extreme that float rounding of the estimate is no longer relative (the exact search then
    does all the work)."""
    if not len(hist.counts):
        return None
    half = hist.width / 2
    m = 2 * (np.arange(len(hist.counts)) + hist.first) + 1
    on_grid = m * half == hist.centers
    n = np.where(on_grid, hist.counts, 0)
    apart = (~on_grid) & (hist.counts > 0)
    largest = max(abs(hist.lo), abs(hist.hi))
    # sum(n * m^2) < 2^62 keeps every prefix sum and difference inside int64.
    if float(hist.counts.sum()) * float(np.abs(m).max()) ** 2 >= 2.0**62 or not 2.0**-300 < half < 2.0**300 \
            or largest > 2.0**300:
        return None
    sums = tuple(np.concatenate([[0], np.cumsum(term)]) for term in (n, n * m, n * m * m))
    return BinMoments(hist.first, half, sums, (hist.centers[apart], hist.counts[apart]),
                      float(np.sum(hist.counts * np.abs(hist.centers))), float(np.sum(n * np.abs(m))))


def bins_below(moments: BinMoments, thresholds: np.ndarray) -> np.ndarray:
    """How many bin centres (2k+1) * half lie below each threshold: ``np.searchsorted(centres, t)``,
    from arithmetic (t / half is exact, the subtraction may round: off by at most one) and a one-step
    exact correction, faster than a binary search for each of the ~65,000 thresholds of a search step."""
    bins = len(moments.prefix[0]) - 1
    guess = np.clip(np.ceil((thresholds / moments.half - 1) / 2 - moments.first), 0, bins).astype(np.int64)

    def center(index):
        return (2 * (index + moments.first) + 1) * moments.half

    guess -= (guess > 0) & (center(guess - 1) >= thresholds)
    guess += (guess < bins) & (center(guess) < thresholds)
    return guess


def estimated_errors(moments: BinMoments, scales: np.ndarray, zps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(estimate, bound) of each candidate grid's `squared_errors`, with |estimate - exact| <= bound.

    A grid maps all bins between two neighbouring rounding thresholds to one level d = q * scale, so
    their error sum n (x - d)^2 is half^2 S2 - 2 d half S1 + d^2 S0 over the run's exact integer sums
    S0 = sum n, S1 = sum n m, S2 = sum n m^2. Every term of that expansion, over all runs, is at most
    G = half^2 sum n m^2 + 2 dmax half sum n |m| + dmax^2 sum n (dmax: the largest |level|), so the
    bound covers: rounding of the expansions and of the sum over 256 runs (at most 1024 ulps of G in
    all), the exact sum's own rounding (pairwise summation of non-negative terms: at most bins + 16
    ulps of G), and bins that the thresholds put one level off from np.round (values within a few
    ulps of a threshold: their two errors differ by at most 16 ulps of scale * (|x| + scale))."""
    bins = len(moments.prefix[0]) - 1
    first_q = INT8_MIN - zps  # level - zero point of the lowest level
    q = first_q[:, None] + np.arange(INT8_MAX - INT8_MIN + 1)[None, :]
    edges = np.empty((len(scales), q.shape[1] + 1), np.int64)
    edges[:, 0], edges[:, -1] = 0, bins
    edges[:, 1:-1] = bins_below(moments, (q[:, :-1] + 0.5) * scales[:, None])
    s0, s1, s2 = (np.diff(prefix[edges], axis=1).astype(np.float64) for prefix in moments.prefix)
    d = q * scales[:, None]  # the dequantized level, as `squared_errors` computes it
    h = moments.half
    # half^2 S2 - 2 d half S1 + d^2 S0, as d (d S0 - 2 half S1) + half^2 S2 in place
    runs = d * s0
    runs -= (2 * h) * s1
    runs *= d
    runs += (h * h) * s2
    estimate = runs.sum(axis=1)
    largest = np.maximum(np.abs(first_q), np.abs(first_q + INT8_MAX - INT8_MIN)) * scales
    total = float(moments.prefix[0][-1])
    magnitude = h * h * float(moments.prefix[2][-1]) + 2 * largest * h * moments.abs_moment_m
    magnitude += largest * largest * total
    x, n = moments.apart
    if len(x):
        apart = error_terms(x, n, scales, zps).sum(axis=1)
        estimate, magnitude = estimate + apart, magnitude + apart
    count = total + float(n.sum())
    bound = ROUNDOFF * ((1024 + bins + 16) * magnitude + 16 * scales * (moments.abs_moment + scales * count))
    return estimate, 2 * bound  # twice the bound: margin for the rounding of the bound itself


def least_error(hist: Histogram, moments: BinMoments | None, ranges: list[tuple[float, float]]) -> int:
    """``np.argmin(squared_errors(hist, ranges))``, computing the exact errors only for the candidates
    whose estimate (`estimated_errors`) could still be the least: the first minimum of the exact errors
    has estimate - bound <= its exact error <= every exact error <= every estimate + bound."""
    if moments is None:
        return int(np.argmin(squared_errors(hist, ranges)))
    estimate, bound = estimated_errors(moments, *grids(ranges))
    contenders = np.flatnonzero(estimate - bound <= np.min(estimate + bound))
    exact = squared_errors(hist, [ranges[i] for i in contenders])
    return int(contenders[np.argmin(exact)])


def best_end(hist: Histogram, fixed: float, extreme: float, high: bool, moments: BinMoments | None = None) -> float:
    """The clipping point for one end (the other end fixed) with the least squared error (``moments``:
    the histogram's `bin_moments`, which make the search faster and leave its result as it is)."""
    candidates = list(extreme * FRACTIONS)
    ranges = [(fixed, c) if high else (c, fixed) for c in candidates]
    return float(candidates[least_error(hist, moments, ranges)])


def mse_range(hist: Histogram) -> tuple[float, float]:
    lo, hi = min(hist.lo, 0.0), max(hist.hi, 0.0)
    if not len(hist.counts):
        return lo, hi  # only zeros (or nothing) seen
    moments = bin_moments(hist)
    # A search step is a pure function of the fixed end: once a round repeats a step, the rounds after it
    # repeat it too, and the steps already taken are looked up instead of searched again (a non-negative
    # tensor's search is then one step, not MSE_ROUNDS).
    searched: dict[tuple[float, bool], float] = {}

    def step(fixed: float, extreme: float, high: bool) -> float:
        if (fixed, high) not in searched:
            searched[fixed, high] = best_end(hist, fixed, extreme, high, moments)
        return searched[fixed, high]

    new_lo, new_hi = lo, hi
    for _ in range(MSE_ROUNDS):
        if hi > 0:
            new_hi = step(new_lo, hi, high=True)
        if lo < 0:
            new_lo = step(new_hi, lo, high=False)
    return new_lo, new_hi


def kl_divergence(hist: Histogram, lo: float, hi: float) -> float:
    """KL(P || Q) of the histogram clipped to (lo, hi) against its int8-quantized form."""
    centers, counts = hist.support()  # empty bins have p = q = 0: they add nothing
    inside = (centers >= lo) & (centers <= hi)
    if not inside.any():
        return np.inf
    sliced = counts[inside].astype(np.float64)
    p = sliced.copy()
    p[0] += counts[centers < lo].sum()
    p[-1] += counts[centers > hi].sum()
    scale, zero_point = activation_qparams(lo, hi)
    level = (levels(centers[inside], scale, zero_point) - INT8_MIN).astype(np.int64)
    # Q: each level's mass, without the clipped outliers (as TensorRT builds it: that is what makes
    # clipping cost something), spread evenly over the level's non-empty bins (all bins here are).
    level_mass = np.bincount(level, weights=sliced, minlength=256)
    level_bins = np.bincount(level, minlength=256)
    q = level_mass[level] / level_bins[level]
    p, q = p / p.sum(), q / q.sum()
    return float(np.sum(p * np.log(p / q)))


@dataclass(frozen=True)
class KlTables:
    """The (coarsened) histogram's non-empty bins and their prefix sums, for `estimated_divergences`."""

    centers: np.ndarray
    counts: np.ndarray
    prefix_counts: np.ndarray  # int64, length bins+1: exact
    prefix_nlogn: np.ndarray  # float64 prefix sums of n log n (rounded: `estimated_divergences` bounds it)


def kl_tables(hist: Histogram) -> KlTables:
    centers, counts = hist.support()
    nlogn = counts * np.log(counts)
    return KlTables(centers, counts, np.concatenate([[0], np.cumsum(counts)]),
                    np.concatenate([[0.0], np.cumsum(nlogn)]))


def level_edges(tables: KlTables, first: np.ndarray, last: np.ndarray, scales: np.ndarray,
                zps: np.ndarray) -> np.ndarray:
    """For each candidate (row) and int8 level v (column, 0..256 from INT8_MIN), the first bin of the
    candidate's bins first..last-1 whose `levels` value is at least v: ``kl_divergence``'s level of each
    bin, exactly. Thresholds place each edge within a bin of it; `settle_edges` moves it home."""
    steps = np.arange(1, INT8_MAX - INT8_MIN + 1)
    thresholds = (INT8_MIN + steps[None, :] - zps[:, None] - 0.5) * scales[:, None]
    edges = np.empty((len(scales), len(steps) + 2), np.int64)
    edges[:, 0], edges[:, -1] = first, last
    edges[:, 1:-1] = np.clip(np.searchsorted(tables.centers, thresholds), first[:, None], last[:, None])
    settle_edges(tables.centers, edges, scales, zps)
    return edges


def settle_edges(centers: np.ndarray, edges: np.ndarray, scales: np.ndarray, zps: np.ndarray) -> None:
    """Move each inner edge (columns 1..256, each between its row's first and last columns) to the first
    bin whose level is at least the column's, one bin a step: levels never fall along the bins."""
    first, last, inner = edges[:, :1], edges[:, -1:], edges[:, 1:-1]
    wanted = np.arange(1, inner.shape[1] + 1)[None, :] + INT8_MIN  # the column's level (as `levels` gives it)

    def level_of(index):
        return levels(centers[np.clip(index, 0, len(centers) - 1)], scales[:, None], zps[:, None])

    while True:
        back = (inner > first) & (level_of(inner - 1) >= wanted)
        forward = (inner < last) & (level_of(inner) < wanted)
        if not (back.any() or forward.any()):
            return
        inner -= back
        inner += forward


def estimated_divergences(tables: KlTables, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(estimate, bound) of `kl_divergence` for each candidate range, |estimate - exact| <= bound.

    KL = sum p log p - sum p log q, with p = n / N (N: all counts; the first and last bins inside the
    range also take the clipped counts) and q constant over the bins of a level: the first sum from
    prefix sums of n log n, the second from one term per level, so that a candidate costs ~256 terms
    instead of one per bin. ``kl_divergence`` normalizes Q by its float sum over the bins (rounding
    at most bins ulps), takes one log per bin and sums (at most bins ulps of the sum of |terms|,
    which is at most |sum p log p| + |sum p log q|: p, q <= 1); the estimate rounds the prefix sums
    (at most 2 bins ulps of sum n log n / N) and a few hundred level terms. The bound takes 64 times
    (bins + 300) ulps of all these magnitudes together."""
    bins, total = len(tables.counts), int(tables.prefix_counts[-1])
    first = np.searchsorted(tables.centers, lo, side="left")
    last = np.searchsorted(tables.centers, hi, side="right")
    empty = first >= last
    first, last = np.where(empty, 0, first), np.where(empty, 1, last)  # any non-empty slice: masked below
    scales, zps = grids(list(zip(lo, hi)))
    edges = level_edges(tables, first, last, scales, zps)
    level_bins = np.diff(edges, axis=1)
    level_mass = np.diff(tables.prefix_counts[edges], axis=1)
    clipped_low, clipped_high = tables.prefix_counts[first], total - tables.prefix_counts[last]
    rows = np.arange(len(lo))
    # The clipped counts join P's first and last bins inside the range, so their levels' p-mass.
    p_mass = level_mass.astype(np.float64)
    p_mass[rows, np.argmax(level_bins > 0, axis=1)] += clipped_low
    p_mass[rows, level_bins.shape[1] - 1 - np.argmax(level_bins[:, ::-1] > 0, axis=1)] += clipped_high
    filled = level_bins > 0
    q_level = np.where(filled, level_mass / np.maximum(level_bins, 1), 1.0)  # kl_divergence's q before normalizing
    q_sum = np.sum(q_level * level_bins, axis=1)
    log_q = np.where(filled, np.log(q_level / q_sum[:, None]), 0.0)
    cross = np.sum(p_mass * log_q, axis=1) / total  # sum p log q
    # sum p log p: the edge bins (with the clipped counts) apart, the bins between them from prefix sums.
    n_first, n_last = tables.counts[first].astype(np.float64), tables.counts[last - 1].astype(np.float64)
    single = last - first == 1
    p_first = (n_first + clipped_low + np.where(single, clipped_high, 0)) / total
    p_last = np.where(single, 0.0, (n_last + clipped_high) / total)
    inner_first, inner_last = first + 1, np.maximum(last - 1, first + 1)  # the bins strictly between the edges
    inner_nlogn = tables.prefix_nlogn[inner_last] - tables.prefix_nlogn[inner_first]
    inner_n = (tables.prefix_counts[inner_last] - tables.prefix_counts[inner_first]).astype(np.float64)
    between = np.where(inner_last > inner_first, (inner_nlogn - np.log(total) * inner_n) / total, 0.0)
    own = between + xlogx(p_first) + xlogx(p_last)
    estimate = np.where(empty, np.inf, own - cross)
    magnitude = 1 + tables.prefix_nlogn[-1] / total + np.log(total) + np.abs(own) + np.abs(cross)
    bound = np.where(empty, 0.0, 64 * (bins + 300) * ROUNDOFF * magnitude)
    return estimate, bound


def xlogx(x: np.ndarray) -> np.ndarray:
    """x log x, 0 at 0."""
    return np.where(x > 0, x * np.log(np.where(x > 0, x, 1.0)), 0.0)


def least_divergence(hist: Histogram, lo: float, hi: float, fractions: list[float]) -> int:
    """``np.argmin([kl_divergence(hist, t * lo, t * hi) for t in fractions])``, with the exact divergence
    computed only for the candidates whose estimate (`estimated_divergences`) could still be the least."""
    tables = kl_tables(hist)
    estimate, bound = estimated_divergences(tables, np.array([t * lo for t in fractions]),
                                            np.array([t * hi for t in fractions]))
    contenders = np.flatnonzero(estimate - bound <= np.min(estimate + bound))
    exact = [kl_divergence(hist, fractions[i] * lo, fractions[i] * hi) for i in contenders]
    return int(contenders[int(np.argmin(exact))])


def entropy_range(hist: Histogram) -> tuple[float, float]:
    lo, hi = min(hist.lo, 0.0), max(hist.hi, 0.0)
    if not len(hist.counts) or hi - lo <= 0:
        return lo, hi
    hist = hist.coarsened(KL_BINS)
    least = (INT8_MAX - INT8_MIN + 1) * hist.width / (hi - lo)  # one bin per level at least
    candidates = [t for t in FRACTIONS if t >= least] or [1.0]
    t = candidates[least_divergence(hist, lo, hi, candidates)]
    return t * lo, t * hi
