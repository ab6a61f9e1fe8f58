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
"""

from __future__ import annotations

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
    scales, zps = grids(ranges)
    centers, counts = hist.support()
    deq = (levels(centers[None, :], scales[:, None], zps[:, None]) - zps[:, None]) * scales[:, None]
    return ((centers[None, :] - deq) ** 2 * counts[None, :]).sum(axis=1)


def best_end(hist: Histogram, fixed: float, extreme: float, high: bool) -> float:
    """The clipping point for one end (the other end fixed) with the least squared error."""
    candidates = list(extreme * FRACTIONS)
    ranges = [(fixed, c) if high else (c, fixed) for c in candidates]
    return float(candidates[int(np.argmin(squared_errors(hist, ranges)))])


def mse_range(hist: Histogram) -> tuple[float, float]:
    lo, hi = min(hist.lo, 0.0), max(hist.hi, 0.0)
    if not len(hist.counts):
        return lo, hi  # only zeros (or nothing) seen
    new_lo, new_hi = lo, hi
    for _ in range(MSE_ROUNDS):
        if hi > 0:
            new_hi = best_end(hist, new_lo, hi, high=True)
        if lo < 0:
            new_lo = best_end(hist, new_hi, lo, high=False)
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


def entropy_range(hist: Histogram) -> tuple[float, float]:
    lo, hi = min(hist.lo, 0.0), max(hist.hi, 0.0)
    if not len(hist.counts) or hi - lo <= 0:
        return lo, hi
    hist = hist.coarsened(KL_BINS)
    least = (INT8_MAX - INT8_MIN + 1) * hist.width / (hi - lo)  # one bin per level at least
    candidates = [t for t in FRACTIONS if t >= least] or [1.0]
    divergences = [kl_divergence(hist, t * lo, t * hi) for t in candidates]
    t = candidates[int(np.argmin(divergences))]
    return t * lo, t * hi
