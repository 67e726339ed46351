from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.models.multivariate import DeviceModel, ewma, fill_forward, run_lengths
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


def test_gaps_are_carried_forward() -> None:
    frame = np.array([[np.nan], [1.0], [np.nan], [3.0]])
    np.testing.assert_array_equal(fill_forward(frame)[:, 0], [1.0, 1.0, 1.0, 3.0])


def test_ewma_in_blocks_matches_the_recursion() -> None:
    x = np.random.default_rng(0).standard_normal((700, 3))
    expected = np.zeros_like(x)
    state = np.zeros(3)
    for t, row in enumerate(x):
        state = 0.9 * state + 0.1 * row
        expected[t] = state
    np.testing.assert_allclose(ewma(x, 0.1), expected, rtol=1e-9, atol=1e-12)


def test_run_lengths_count_rows_held() -> None:
    frame = np.array([[1.0], [1.0], [2.0], [2.0], [2.0], [1.0]])
    np.testing.assert_array_equal(run_lengths(frame)[:, 0], [1, 2, 1, 2, 3, 1])


def device_frame(rows: int, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    load = 50 + 10 * np.sin(np.arange(rows) / 30)
    current = load * 0.2 + rng.normal(0, 0.2, rows)
    temperature = 30 + load * 0.3 + rng.normal(0, 0.3, rows)
    vibration = 1.0 + rng.normal(0, 0.05, rows)
    return np.column_stack([current, temperature, vibration])


def test_device_model_scores_and_explains_a_vibration_fault() -> None:
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


def test_a_burst_scores_above_one_for_as_long_as_it_lasts() -> None:
    metrics = ["current", "temperature", "vibration"]
    model = DeviceModel(metrics).fit(device_frame(3000))
    test = device_frame(900, seed=5)
    test[300:700, 2] += 0.5  # a lasting vibration rise of 10 sigma
    score, _ = model.score(test)
    assert (score[300:700] > 1).all()


def test_a_broken_relation_is_seen_where_each_value_is_in_range() -> None:
    metrics = ["current", "temperature", "vibration"]
    model = DeviceModel(metrics).fit(device_frame(3000))
    test = device_frame(600, seed=6)
    # Temperature follows the load in the opposite direction: each value stays in its range.
    load = 50 + 10 * np.sin(np.arange(600) / 30)
    test[300:, 1] = 30 + (100 - load[300:]) * 0.3
    lo, hi = device_frame(3000)[:, 1].min(), device_frame(3000)[:, 1].max()
    assert ((test[300:, 1] >= lo) & (test[300:, 1] <= hi)).all()
    parts, _ = model.parts(test)
    assert np.mean(parts["q"][300:] > 1) > 0.5
    assert np.mean(parts["level"][300:] > 1) < np.mean(parts["q"][300:] > 1)


def test_a_quantized_and_a_constant_channel_do_not_flood() -> None:
    rng = np.random.default_rng(8)
    rows = 2000
    load = 50 + 10 * np.sin(np.arange(rows + 600) / 50)
    gauge = np.round((4.2 + 0.02 * (load - 50) + rng.normal(0, 0.05, rows + 600)) / 0.3) * 0.3
    valve = np.full(rows + 600, 60.0)
    flow = load * 0.7 + rng.normal(0, 0.3, rows + 600)
    frame = np.column_stack([gauge, valve, flow])
    model = DeviceModel(["pressure", "valve", "flow"]).fit(frame[:rows])
    assert model.scale[0] == pytest.approx(0.3)  # the gauge's resolution, not its tiny MAD
    assert model.scale[1] == pytest.approx(0.6)  # 1% of the value it sits at
    test = frame[rows:].copy()
    score, _ = model.score(test)
    assert (score < 1).all()
    test[300, 1] = 60.5  # one step of the valve that never moved
    stepped, _ = model.score(test)
    assert np.isfinite(stepped).all() and stepped.max() < 1
    stuck = frame[rows:].copy()
    stuck[200:, 0] = stuck[200, 0]  # the gauge stuck: it never held one value this long
    held, _ = model.score(stuck)
    assert held[400:].min() > 1


def test_state_round_trips_through_plain_arrays() -> None:
    metrics = ["current", "temperature", "vibration"]
    model = DeviceModel(metrics).fit(device_frame(1000))
    copy = DeviceModel.from_arrays(metrics, model.to_arrays())
    test = device_frame(200, seed=9)
    np.testing.assert_array_equal(model.score(test)[0], copy.score(test)[0])
    with pytest.raises(ValueError, match="match"):
        DeviceModel.from_arrays(metrics[:2], model.to_arrays())
