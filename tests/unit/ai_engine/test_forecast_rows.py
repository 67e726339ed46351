"""Forecasting a page's rows at once agrees with forecasting each series alone."""

from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.models.forecast import (
    RiskHorizons,
    Threshold,
    fit_trend,
    fit_trends,
    forecast,
    forecasts,
)

T0 = 1_700_000_000.0


@pytest.mark.parametrize("seed", range(20))
def test_rows_at_once_match_one_at_a_time(seed: int) -> None:
    rng = np.random.default_rng(seed)
    steps, series = int(rng.integers(0, 400)), int(rng.integers(0, 8))
    t = T0 + 60.0 * np.arange(steps)
    y = 50 + rng.normal(0, 2, (series, steps)) + rng.normal(0, 0.05, (series, 1)) * np.arange(steps)
    y[rng.random(y.shape) < rng.uniform(0, 0.95)] = np.nan
    if series:
        y[0] = np.nan  # nothing to fit
    trends = fit_trends(t, y)
    assert len(trends) == series
    for row, got in zip(y, trends, strict=True):
        want = fit_trend(t, row)
        assert (got is None) == (want is None)
        if want is not None and got is not None:
            np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_full_rows_give_the_very_same_forecast() -> None:
    rng = np.random.default_rng(3)
    t = T0 + 60.0 * np.arange(360)
    y = np.round(80 + rng.normal(0, 1, (20, 360)) + 0.01 * np.arange(360), 4)
    threshold, horizons = Threshold(85.0), RiskHorizons()
    many = forecasts(t, y, threshold, horizons)
    assert many == [forecast(t, row, threshold, horizons) for row in y]
    assert {f.risk for f in many if f is not None} >= {"high"}
