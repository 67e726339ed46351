"""Forecast a series' trend to predict when it crosses a threshold, with intervals and risk."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
Risk = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class Threshold:
    """A limit a series must not cross: a value and the side that is bad."""

    value: float
    direction: Literal["above", "below"] = "above"


@dataclass(frozen=True)
class RiskHorizons:
    """A predicted crossing sooner than ``high_s`` is high risk, sooner than ``medium_s`` medium."""

    high_s: float = 4 * 3600.0
    medium_s: float = 24 * 3600.0


@dataclass(frozen=True)
class Forecast:
    """The trend at ``now`` and what it implies for the threshold."""

    now_s: float
    level: float
    slope_per_s: float
    slope_stderr: float
    residual_std: float
    time_to_threshold_s: float
    risk: Risk
    confidence: float

    def predict(self, ahead_s: float, z: float = 1.96) -> tuple[float, float, float]:
        """Return the expected value ``ahead_s`` from now with its lower and upper bound."""
        mean = self.level + self.slope_per_s * ahead_s
        spread = z * math.hypot(self.residual_std, self.slope_stderr * ahead_s)
        return mean, mean - spread, mean + spread


def _normal_cdf(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def fit_trend(
    timestamps_s: FloatArray, values: FloatArray
) -> tuple[float, float, float, float, float] | None:
    """Fit a least-squares line; return (now, level at now, slope, slope stderr, residual std)."""
    ok = np.isfinite(values)
    t, y = timestamps_s[ok].astype(np.float64), values[ok]
    if len(y) < 3 or float(np.ptp(t)) <= 0.0:
        return None
    now = float(t[-1])
    x = t - now
    x_mean = float(x.mean())
    sxx = float(((x - x_mean) ** 2).sum())
    slope = float(((x - x_mean) * (y - y.mean())).sum() / sxx)
    intercept = float(y.mean()) - slope * x_mean
    residuals = y - (intercept + slope * x)
    dof = max(len(y) - 2, 1)
    residual_std = math.sqrt(float((residuals**2).sum()) / dof)
    slope_stderr = residual_std / math.sqrt(sxx)
    return now, intercept, slope, slope_stderr, residual_std


def fit_trends(
    timestamps_s: FloatArray, values: FloatArray
) -> list[tuple[float, float, float, float, float] | None]:
    """Return ``fit_trend`` of each row of ``values`` (series by time on one grid), at once."""
    t = np.asarray(timestamps_s, dtype=np.float64)
    if len(t) == 0:
        return [None] * len(values)
    ok = np.isfinite(values)
    n = ok.sum(axis=1)
    last = len(t) - 1 - np.argmax(ok[:, ::-1], axis=1)
    now = t[last]
    fits = (n >= 3) & (now - t[np.argmax(ok, axis=1)] > 0.0)
    count = np.maximum(n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(ok, t[None, :] - now[:, None], 0.0)
        y = np.where(ok, values, 0.0)
        x_mean = x.sum(axis=1) / count
        y_mean = y.sum(axis=1) / count
        dx = np.where(ok, x - x_mean[:, None], 0.0)
        sxx = (dx**2).sum(axis=1)
        slope = (dx * np.where(ok, y - y_mean[:, None], 0.0)).sum(axis=1) / sxx
        intercept = y_mean - slope * x_mean
        residuals = np.where(ok, y - (intercept[:, None] + slope[:, None] * x), 0.0)
        residual_std = np.sqrt((residuals**2).sum(axis=1) / np.maximum(n - 2, 1))
        slope_stderr = residual_std / np.sqrt(sxx)
    rows = zip(now.tolist(), intercept.tolist(), slope.tolist(), slope_stderr.tolist(),
               residual_std.tolist(), fits.tolist(), strict=True)  # fmt: skip
    return [(a, b, c, d, e) if good else None for a, b, c, d, e, good in rows]


def forecast(
    timestamps_s: FloatArray,
    values: FloatArray,
    threshold: Threshold,
    horizons: RiskHorizons | None = None,
) -> Forecast | None:
    """Forecast the trend of a series (NaN = missing) and rate the risk of crossing ``threshold``.

    ``time_to_threshold_s`` is 0 when the level is already past the threshold and infinite when
    the trend does not head towards it. ``confidence`` is the probability, under the trend's
    uncertainty, that the crossing happens within the horizon of the risk level given.
    """
    fitted = fit_trend(timestamps_s, values)
    return None if fitted is None else rate(fitted, threshold, horizons)


def forecasts(
    timestamps_s: FloatArray,
    values: FloatArray,
    threshold: Threshold,
    horizons: RiskHorizons | None = None,
) -> list[Forecast | None]:
    """Return ``forecast`` of each row of ``values`` (series by time on one grid)."""
    return [
        None if fitted is None else rate(fitted, threshold, horizons)
        for fitted in fit_trends(timestamps_s, values)
    ]


def rate(
    fitted: tuple[float, float, float, float, float],
    threshold: Threshold,
    horizons: RiskHorizons | None = None,
) -> Forecast:
    """Return the forecast of a fitted trend: when it crosses ``threshold``, and the risk."""
    horizons = horizons or RiskHorizons()
    now, level, slope, slope_se, resid = fitted
    sign = 1.0 if threshold.direction == "above" else -1.0
    gap = sign * (threshold.value - level)
    rate = sign * slope
    if gap <= 0:
        ttt = 0.0
    elif rate > 0:
        ttt = gap / rate
    else:
        ttt = math.inf

    def p_crossed_by(ahead_s: float) -> float:
        mean = sign * (level + slope * ahead_s)
        sd = math.hypot(resid, slope_se * ahead_s)
        limit = sign * threshold.value
        if sd == 0.0:
            return 1.0 if mean >= limit else 0.0
        return _normal_cdf((mean - limit) / sd)

    risk: Risk
    if ttt <= horizons.high_s:
        risk, confidence = "high", p_crossed_by(horizons.high_s)
    elif ttt <= horizons.medium_s:
        risk, confidence = "medium", p_crossed_by(horizons.medium_s)
    else:
        risk, confidence = "low", 1.0 - p_crossed_by(horizons.medium_s)
    return Forecast(now, level, slope, slope_se, resid, ttt, risk, confidence)
