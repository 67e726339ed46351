from __future__ import annotations

import math

import numpy as np
import pytest
from sentio.ai_engine.models.forecast import RiskHorizons, Threshold, fit_trend, forecast

HOUR = 3600.0


def series(slope_per_h: float, hours: float = 6, noise: float = 0.0, start: float = 50.0):
    t = np.arange(0, hours * HOUR + 1, 60.0)
    rng = np.random.default_rng(7)
    y = (
        start + slope_per_h * t / HOUR + rng.normal(0, noise, len(t))
        if noise
        else start + slope_per_h * t / HOUR
    )
    return t, np.asarray(y, dtype=float)


def test_exact_line_gives_exact_time_to_threshold() -> None:
    t, y = series(slope_per_h=2.0)  # reaches 62 at 6 h; 80 at 15 h
    f = forecast(t, y, Threshold(80.0))
    assert f is not None
    assert f.time_to_threshold_s == pytest.approx(9 * HOUR)
    assert f.risk == "medium" and f.confidence == pytest.approx(1.0)
    mean, lo, hi = f.predict(HOUR)
    assert mean == pytest.approx(64.0) and lo == pytest.approx(64.0) and hi == pytest.approx(64.0)


def test_noisy_drift_is_high_risk_within_tolerance() -> None:
    t, y = series(slope_per_h=5.0, noise=0.5)  # level 80 at 6 h; 90 at 8 h
    f = forecast(t, y, Threshold(90.0))
    assert f is not None
    assert abs(f.time_to_threshold_s - 2 * HOUR) < 0.05 * 2 * HOUR
    assert f.risk == "high" and f.confidence > 0.9
    mean, lo, hi = f.predict(HOUR)
    assert lo < mean < hi and mean == pytest.approx(85.0, abs=0.3)


def test_falling_series_against_a_lower_limit() -> None:
    t, y = series(slope_per_h=-1.0, start=100.0)  # 94 at 6 h, 70 at 30 h
    f = forecast(t, y, Threshold(70.0, "below"), RiskHorizons(high_s=HOUR, medium_s=12 * HOUR))
    assert f is not None
    assert f.time_to_threshold_s == pytest.approx(24 * HOUR)
    assert f.risk == "low" and f.confidence == pytest.approx(1.0)


def test_flat_or_receding_series_never_crosses_and_past_threshold_is_zero() -> None:
    t, y = series(slope_per_h=-0.5)
    f = forecast(t, y, Threshold(80.0))
    assert f is not None and math.isinf(f.time_to_threshold_s) and f.risk == "low"
    f = forecast(t, y, Threshold(10.0))
    assert f is not None and f.time_to_threshold_s == 0.0 and f.risk == "high"


def test_gaps_are_ignored_and_too_little_data_gives_none() -> None:
    t, y = series(slope_per_h=2.0)
    y[10:100] = np.nan
    f = forecast(t, y, Threshold(80.0))
    assert f is not None and f.time_to_threshold_s == pytest.approx(9 * HOUR)
    assert forecast(t[:2], y[:2], Threshold(80.0)) is None
    assert fit_trend(np.array([5.0, 5.0, 5.0]), np.array([1.0, 2.0, 3.0])) is None
