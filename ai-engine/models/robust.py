"""Streaming robust location and scale, vectorised over many series, with no look-ahead."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
MEAN_ABS_TO_SIGMA = 1.2533


@dataclass
class RobustStream:
    """Exponentially weighted centre and mean absolute deviation per series.

    Each point is scored against the state before it, then folded in with its residual clipped
    to the band, so a spike barely moves the baseline. The score is the distance from the centre
    in units of the band (``k`` sigmas): above 1 is anomalous. Series with fewer than ``warmup``
    points score NaN.
    """

    alpha: float = 0.02
    k: float = 4.0
    warmup: int = 20
    center: FloatArray = field(default_factory=lambda: np.zeros(0))
    scale: FloatArray = field(default_factory=lambda: np.zeros(0))
    count: FloatArray = field(default_factory=lambda: np.zeros(0))

    def resize(self, series: int) -> None:
        """Grow the state to ``series`` series; new ones start empty."""
        extra = series - len(self.center)
        if extra > 0:
            self.center = np.r_[self.center, np.zeros(extra)]
            self.scale = np.r_[self.scale, np.zeros(extra)]
            self.count = np.r_[self.count, np.zeros(extra)]

    def fit(self, history: FloatArray) -> RobustStream:
        """Start every series (rows of ``history``) from its robust centre and spread."""
        self.resize(len(history))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows give NaN, as meant
            center = np.nanmedian(history, axis=1)
            scale = np.nanmean(np.abs(history - center[:, None]), axis=1)
        seen = np.isfinite(history).sum(axis=1).astype(np.float64)
        ok = seen > 0
        self.center = np.where(ok, center, self.center)
        self.scale = np.where(ok, scale, self.scale)
        self.count = np.where(ok, seen, self.count)
        return self

    def step(self, x: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Score one value per series (NaN = none), then learn from it."""
        self.resize(len(x))
        sigma = np.maximum(MEAN_ABS_TO_SIGMA * self.scale, 1e-9 + 1e-6 * np.abs(self.center))
        band = self.k * sigma
        ready = self.count >= self.warmup
        present = np.isfinite(x)
        residual = np.where(present, x - self.center, 0.0)
        score = np.where(ready & present, np.abs(residual) / band, np.nan)
        expected = np.where(self.count > 0, self.center, np.nan)
        rate = np.where(ready, self.alpha, 1.0 / (self.count + 1.0))
        clipped = np.where(ready, np.clip(residual, -band, band), residual)
        self.center = np.where(present, self.center + rate * clipped, self.center)
        deviation = np.where(ready, np.minimum(np.abs(residual), band), np.abs(residual))
        self.scale = np.where(present, self.scale + rate * (deviation - self.scale), self.scale)
        self.count = self.count + present
        return score, expected, expected - band, expected + band

    def run(self, matrix: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Step through the columns of a series-by-time matrix; return four such matrices."""
        out = [np.full(matrix.shape, np.nan) for _ in range(4)]
        for j in range(matrix.shape[1]):
            for target, column in zip(out, self.step(matrix[:, j]), strict=True):
                target[:, j] = column
        return out[0], out[1], out[2], out[3]
