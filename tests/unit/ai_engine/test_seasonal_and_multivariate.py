from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.models.multivariate import DeviceModel, features
from sentio.ai_engine.models.seasonal import DAY_S, SeasonalBaseline

STEP = 300


def daily(days: int, noise: float = 0.5, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    t = np.arange(0, days * DAY_S, STEP, dtype=np.int64)
    rng = np.random.default_rng(seed)
    y = 20 + 10 * np.sin(2 * np.pi * (t % DAY_S) / DAY_S) + rng.normal(0, noise, len(t))
    return t, y


def test_seasonal_flags_a_value_normal_at_another_hour() -> None:
    t, y = daily(14)
    model = SeasonalBaseline(bucket_s=1800).fit(t[: 7 * DAY_S // STEP], y[: 7 * DAY_S // STEP])
    test_t, test_y = t[7 * DAY_S // STEP :], y[7 * DAY_S // STEP :].copy()
    night = int(np.argmin(np.abs((test_t % DAY_S) - 3 * DAY_S // 4)))  # trough, value ~10
    test_y[night] = 30.0  # the daily peak's value, at the trough's hour
    score, expected, lower, upper = model.score(test_t, test_y)
    assert score[night] > 1
    assert expected[night] == pytest.approx(10.0, abs=1.0)
    normal = np.delete(score, night)
    assert (normal < 1).mean() > 0.995
    assert (lower < expected).all() and (expected < upper).all()


def test_seasonal_needs_fit_and_handles_gaps() -> None:
    t, y = daily(3)
    with pytest.raises(ValueError, match="before fit"):
        SeasonalBaseline().score(t, y)
    y[: DAY_S // STEP] = np.nan
    model = SeasonalBaseline(bucket_s=3600).fit(t, y)
    score, *_ = model.score(t[-10:], y[-10:])
    assert np.isfinite(score).all()


def test_features_use_no_future_rows_and_fill_gaps() -> None:
    frame = np.array([[1.0], [np.nan], [3.0], [100.0]])
    x = features(frame, window=2)
    assert x[1, 0] == 1.0  # gap carried forward
    assert x[2, 1] == pytest.approx(1.0)  # 3 - mean(1, 3)
    x2 = features(frame[:3], window=2)
    np.testing.assert_array_equal(x[:3], x2)


def device_frame(rows: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    load = 50 + 10 * np.sin(np.arange(rows) / 30)
    current = load * 0.2 + rng.normal(0, 0.2, rows)
    temperature = 30 + load * 0.3 + rng.normal(0, 0.3, rows)
    vibration = 1.0 + rng.normal(0, 0.05, rows)
    return np.column_stack([current, temperature, vibration])


def test_isolation_forest_scores_and_explains_a_vibration_fault() -> None:
    metrics = ["current", "temperature", "vibration"]
    model = DeviceModel(metrics).fit(device_frame(3000))
    test = device_frame(600, seed=4)
    test[400:405, 2] = 3.0  # vibration burst, the other metrics as usual
    score, explanation = model.score(test)
    assert (score[400:405] > 1).all()
    assert max(explanation[402], key=explanation[402].get) == "vibration"  # type: ignore[arg-type]
    assert explanation[402]["vibration"] > 0.6
    normal = np.r_[score[:395], score[420:]]
    assert (normal < 1).mean() > 0.97
    with pytest.raises(ValueError, match="before fit"):
        DeviceModel(metrics).score(test)
