"""Seasonal baseline: the usual value for this time of day (and day of week), robustly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
DAY_S = 86_400
WEEK_S = 7 * DAY_S
MAD_TO_SIGMA = 1.4826


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

    def bucket(self, timestamps_s: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        """Return the bucket index of each timestamp (UTC)."""
        return ((timestamps_s.astype(np.int64) % self.period_s) // self.bucket_s).astype(np.int64)

    def fit(self, timestamps_s: npt.NDArray[Any], values: FloatArray) -> SeasonalBaseline:
        """Learn each bucket's median and spread from history (NaN = missing)."""
        buckets = self.period_s // self.bucket_s
        ok = np.isfinite(values)
        idx, y = self.bucket(timestamps_s[ok]), values[ok]
        median = np.full(buckets, np.nan)
        sigma = np.full(buckets, np.nan)
        for b in range(buckets):
            sample = y[idx == b]
            if len(sample) >= self.min_samples:
                median[b] = np.median(sample)
                sigma[b] = MAD_TO_SIGMA * np.median(np.abs(sample - median[b]))
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
