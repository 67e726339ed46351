"""Seasonal baseline: the usual value for this time of day (and day of week), robustly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
DAY_S = 86_400
WEEK_S = 7 * DAY_S
MAD_TO_SIGMA = 1.4826


def _middle(flat: FloatArray, first: IntArray, count: IntArray) -> FloatArray:
    """Return the median of each sorted run ``flat[first : first + count]`` (NaN if empty)."""
    has = count > 0
    lo = flat[(first + np.maximum(count - 1, 0) // 2)[has]]
    hi = flat[(first + count // 2)[has]]
    out = np.full(len(count), np.nan)
    # As np.median: the middle value when the count is odd, the mean of the two middle ones if even.
    out[has] = np.where(count[has] % 2 == 1, lo, (lo + hi) / 2.0)
    return out


def _by_run(run: IntArray, runs: int) -> IntArray:
    """Return the stable order of ``run`` (a radix sort when the run numbers are small)."""
    small = run.astype(np.int16) if runs <= np.iinfo(np.int16).max else run
    return np.argsort(small, kind="stable")


def _sort_runs(flat: FloatArray, run: IntArray, runs: int) -> FloatArray:
    """Return ``flat`` sorted by run, then by value (each run's values ascending in one place)."""
    by_value = np.argsort(flat)
    return flat[by_value[_by_run(run[by_value], runs)]]


def bucket_median_mad(
    idx: IntArray, y: FloatArray, buckets: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Return each bucket's median of ``y``, median absolute deviation and count, all at once.

    An empty bucket's median and MAD are NaN. ``y`` must be finite.
    """
    count = np.bincount(idx, minlength=buckets)
    width = int(count.max(initial=0))
    if buckets * width <= 4 * len(y) + 4096:
        # Few cells wasted: one row a bucket, padded with NaN (sorted last), sorted row-wise.
        order = _by_run(idx, buckets)
        row = idx[order]
        cell = np.arange(len(idx)) - (np.cumsum(count) - count)[row] + row * width
        grid = np.full((buckets, width), np.nan)
        grid.reshape(-1)[cell] = y[order]
        grid.sort(axis=1)
        starts = np.arange(buckets) * width
        median = _middle(grid.reshape(-1), starts, count)
        deviation = np.abs(grid - median[:, None])
        deviation.sort(axis=1)
        return median, _middle(deviation.reshape(-1), starts, count), count
    # Sparse buckets (most of the history in a few): sort runs of one flat array instead.
    first = np.cumsum(count) - count
    ordered = _sort_runs(y, idx, buckets)
    median = _middle(ordered, first, count)
    run = np.repeat(np.arange(buckets), count)
    deviation = _sort_runs(np.abs(ordered - median[run]), run, buckets)
    return median, _middle(deviation, first, count), count


@dataclass
class SeasonalBaseline:
    """Median and MAD per time-of-day bucket (per day of week too when ``weekly``).

    The score is the distance from the bucket's median in units of ``k`` robust sigmas, so it
    is above 1 when anomalous; the band is median ± k sigma.
    """

    bucket_s: int = 900
    weekly: bool = False
    k: float = 4.0
    min_samples: int = 3
    median: FloatArray = field(default_factory=lambda: np.zeros(0))
    sigma: FloatArray = field(default_factory=lambda: np.zeros(0))

    @property
    def period_s(self) -> int:
        """Return the season's length."""
        return WEEK_S if self.weekly else DAY_S

    def bucket(self, timestamps_s: npt.NDArray[Any]) -> IntArray:
        """Return the bucket index of each timestamp (UTC)."""
        return ((timestamps_s.astype(np.int64) % self.period_s) // self.bucket_s).astype(np.int64)

    def fit(self, timestamps_s: npt.NDArray[Any], values: FloatArray) -> SeasonalBaseline:
        """Learn each bucket's median and spread from history (NaN = missing)."""
        buckets = self.period_s // self.bucket_s
        ok = np.isfinite(values)
        idx, y = self.bucket(timestamps_s[ok]), values[ok]
        median, mad, count = bucket_median_mad(idx, y, buckets)
        enough = count >= self.min_samples
        median = np.where(enough, median, np.nan)
        sigma = np.where(enough, MAD_TO_SIGMA * mad, np.nan)
        if np.isfinite(sigma).any():
            # A flat bucket would make every change infinitely anomalous: floor its spread.
            floor = max(float(np.nanmedian(sigma)) * 0.1, 1e-9)
            sigma = np.where(np.isfinite(sigma), np.maximum(sigma, floor), np.nan)
        self.median, self.sigma = median, sigma
        return self

    def score(
        self, timestamps_s: npt.NDArray[Any], values: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Return (score, expected, lower, upper) per point; NaN where the bucket is unknown."""
        if self.median.size == 0:
            raise ValueError("SeasonalBaseline.score called before fit")
        idx = self.bucket(timestamps_s)
        expected, sigma = self.median[idx], self.sigma[idx]
        band = self.k * sigma
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.abs(values - expected) / band
        return score, expected, expected - band, expected + band
