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
        """Step through the columns of a series-by-time matrix; return four such matrices.

        The same arithmetic as ``step`` column after column, but what does not depend on the
        state (which values are present; once every series has warmed up, that all are ready)
        is worked out for the whole matrix, so a step is a few operations on the state.
        """
        series, steps = matrix.shape
        if steps == 0:
            empty = np.full(matrix.shape, np.nan)
            return empty, empty.copy(), empty.copy(), empty.copy()
        self.resize(series)
        x = matrix.T  # a row a step (a view: no copy of the input)
        present = np.isfinite(x)
        everywhere = np.asarray(present.all(axis=1))
        score, expected, band = (np.empty(x.shape) for _ in range(3))
        scored = np.empty_like(present)  # ready and present
        center, scale, count = self.center, self.scale, self.count
        warm = False
        for j in range(steps):
            sigma = np.maximum(MEAN_ABS_TO_SIGMA * scale, 1e-9 + 1e-6 * np.abs(center))
            b = np.multiply(self.k, sigma, out=band[j])
            expected[j] = center
            here = present[j]
            residual = x[j] - center  # not finite where absent: never used there
            size = np.abs(residual)
            np.divide(size, b, out=score[j])
            warm = warm or bool(count.min(initial=np.inf) >= self.warmup)
            if warm:  # every series ready: the rate is alpha and the residual clipped
                scored[j] = here
                moved = center + self.alpha * np.minimum(np.maximum(residual, -b), b)
                grown = scale + self.alpha * (np.minimum(size, b) - scale)
            else:
                ready = count >= self.warmup
                np.logical_and(ready, here, out=scored[j])
                rate = np.where(ready, self.alpha, 1.0 / (count + 1.0))
                moved = center + rate * np.where(ready, np.clip(residual, -b, b), residual)
                deviation = np.where(ready, np.minimum(size, b), size)
                grown = scale + rate * (deviation - scale)
                count = count + here
            if everywhere[j]:
                center, scale = moved, grown
            else:
                center = np.where(here, moved, center)
                scale = np.where(here, grown, scale)
        known = np.zeros_like(present)  # a value seen before the step (so there is a centre)
        np.logical_or.accumulate(present[:-1], axis=0, out=known[1:])
        known |= self.count > 0
        self.center, self.scale = center, scale
        self.count = self.count + present.sum(axis=0)
        score[~scored] = np.nan
        expected[~known] = np.nan
        lower = expected - band
        upper = np.add(expected, band, out=band)
        return score.T, expected.T, lower.T, upper.T
