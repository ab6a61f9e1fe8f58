"""A streaming histogram of one tensor's values, for the range searches in `range_search`.

Bins are anchored at zero and have a power-of-two width: bin ``k`` holds ``[k*w, (k+1)*w)``. When a
batch reaches beyond the bins held so far, bins are appended; when there are more than ``max_bins``,
pairs of neighbours merge (``k -> k // 2``, width doubles). Both edits are exact, so the histogram of
all batches does not depend on how the samples were split into batches, unlike histograms whose range
is fixed by the first batch and re-binned by interpolation.

Exact zeros are counted apart (``zeros``): the int8 scheme always represents 0.0 exactly, so they add
no error whatever the range, and ReLU outputs hold many of them.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field

import numpy as np

# Bins over the first batch's span: at least TARGET_BINS (far finer than the 255 int8 steps, so that
# a bin's centre stands for its values), at most MAX_BINS before neighbours merge.
TARGET_BINS = 8192
MAX_BINS = 16384


def bin_width(span: float) -> float:
    """The power of two at most ``span / TARGET_BINS``; for spans so small that the quotient is below
    the smallest normal float (subnormal values), that smallest normal: all values then share a bin."""
    return 2.0 ** math.floor(math.log2(max(span / TARGET_BINS, sys.float_info.min)))


def bin_indices(values: np.ndarray, width: float) -> np.ndarray:
    """floor(values / width) as int64, as float64 computes it. The width is a power of two, so the quotient
    is exact, and float32 gives the same integers (at half the memory traffic of a float64 copy) as long
    as the width is a float32 and no quotient loses bits in the subnormals (a width of at most 1 only
    scales values up); float32 overflows only past 3e38, where int64 cannot hold float64's quotient either."""
    if values.dtype == np.float32 and 2.0**-149 <= width <= 1.0:
        quotient = values / np.float32(width)
    else:
        quotient = values.astype(np.float64) / width
    return np.floor(quotient, out=quotient).astype(np.int64)  # in place: activations run to millions of values


def batch_counts(flat: np.ndarray, zeros: int, width: float) -> tuple[int, np.ndarray]:
    """(k of the first, counts) of the non-empty span of bins of one batch's non-zero values. The exact
    zeros (``zeros`` of them) are binned with the rest, in bin 0, and taken out of it after: cheaper
    than copying the non-zero values out of a ReLU output, where about half are zeros."""
    k = bin_indices(flat, width)
    first = int(k.min())
    k -= first  # in place, as the division: ``k`` is this batch's own array
    counts = np.bincount(k)
    if zeros:
        counts[-first] -= zeros
    filled = np.flatnonzero(counts)
    return first + int(filled[0]), counts[filled[0] : filled[-1] + 1]


@dataclass
class Histogram:
    max_bins: int = MAX_BINS
    width: float = 0.0
    first: int = 0  # index k of counts[0]
    counts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    zeros: int = 0
    lo: float = math.inf  # exact extremes of the values seen
    hi: float = -math.inf

    def observe(self, values: np.ndarray) -> None:
        """Add ``values`` (finite: a NaN or Inf has no bin; the caller names the tensor that holds one)."""
        flat = np.asarray(values).reshape(-1)
        if flat.dtype != np.float32:  # float32 activations are binned as they are (`bin_indices`)
            flat = flat.astype(np.float64)
        if not np.isfinite(flat).all():
            raise ValueError(f"histogram: {int((~np.isfinite(flat)).sum())} of the values are NaN or Inf")
        zeros = flat.size - np.count_nonzero(flat)
        self.zeros += zeros
        if flat.size:
            self.lo, self.hi = min(self.lo, float(flat.min())), max(self.hi, float(flat.max()))
        if zeros == flat.size:
            return
        if self.width == 0.0:
            self.width = bin_width(max(self.hi, 0.0) - min(self.lo, 0.0))
        batch_first, batch = batch_counts(flat, zeros, self.width)
        self._cover(batch_first, batch_first + len(batch) - 1)
        merges = 0
        while len(self.counts) > self.max_bins:
            self._coarsen()
            merges += 1
        # Bin k of the batch lands in bin k // 2**merges, as each value's own k would have.
        index = ((np.arange(len(batch)) + batch_first) >> merges) - self.first
        self.counts += np.bincount(index, weights=batch, minlength=len(self.counts)).astype(np.int64)

    def _cover(self, k_min: int, k_max: int) -> None:
        """Append empty bins so that indices k_min..k_max exist."""
        if not len(self.counts):
            self.first, self.counts = k_min, np.zeros(k_max - k_min + 1, np.int64)
            return
        last = self.first + len(self.counts) - 1
        before, after = max(0, self.first - k_min), max(0, k_max - last)
        self.counts = np.concatenate([np.zeros(before, np.int64), self.counts, np.zeros(after, np.int64)])
        self.first -= before

    def _coarsen(self) -> None:
        """Merge bins pairwise: bin k goes to k // 2 (floor division keeps the zero anchor)."""
        new_first = self.first // 2
        index = (np.arange(len(self.counts)) + self.first) // 2 - new_first
        self.counts = np.bincount(index, weights=self.counts, minlength=int(index[-1]) + 1).astype(np.int64)
        self.first, self.width = new_first, self.width * 2

    @property
    def centers(self) -> np.ndarray:
        """Each bin's middle, kept inside the values seen (the outermost bins reach past them)."""
        return np.clip((np.arange(len(self.counts)) + self.first + 0.5) * self.width, self.lo, self.hi)

    def coarsened(self, max_bins: int) -> Histogram:
        """A copy with neighbours merged until at most ``max_bins`` bins remain."""
        copy = dataclasses.replace(self, counts=self.counts.copy(), max_bins=max_bins)
        while len(copy.counts) > max_bins:
            copy._coarsen()
        return copy

    def support(self) -> tuple[np.ndarray, np.ndarray]:
        """Centres and counts of the non-empty bins (the searches need no others)."""
        full = self.counts > 0
        return self.centers[full], self.counts[full]

    @property
    def total(self) -> int:
        return int(self.counts.sum()) + self.zeros
