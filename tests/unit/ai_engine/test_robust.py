from __future__ import annotations

import numpy as np
from sentio.ai_engine.models.robust import RobustStream


def noisy(n: int, seed: int) -> np.ndarray:
    return 10 + np.random.default_rng(seed).normal(0, 1.0, n)


def test_spike_scores_above_one_and_barely_moves_the_baseline() -> None:
    x = noisy(500, 1)
    x[300] = 30.0
    model = RobustStream()
    score, expected, lower, upper = model.run(x[None, :])
    assert np.isnan(score[0, :20]).all()  # warm-up
    assert score[0, 300] > 3
    assert (score[0, 20:300] < 1).mean() > 0.99 and (score[0, 301:] < 1).mean() > 0.99
    assert abs(expected[0, 301] - 10) < 0.5
    assert (lower[0, 25:] < expected[0, 25:]).all() and (expected[0, 25:] < upper[0, 25:]).all()


def test_level_shift_is_flagged_then_learned() -> None:
    x = np.r_[noisy(300, 2), noisy(700, 3) + 8]
    score, *_ = RobustStream().run(x[None, :])
    assert (score[0, 300:305] > 1).all()
    assert (score[0, -100:] < 1).mean() > 0.95


def test_stuck_sensor_after_noise_stays_scored_and_nan_is_skipped() -> None:
    x = np.r_[noisy(200, 4), np.full(50, np.nan), noisy(100, 5)]
    model = RobustStream()
    score, *_ = model.run(x[None, :])
    assert np.isnan(score[0, 200:250]).all()
    assert model.count[0] == 300


def test_no_look_ahead_and_series_are_independent() -> None:
    a, b = noisy(200, 6), noisy(200, 7) * 100
    both, *_ = RobustStream().run(np.vstack([a, b]))
    changed = a.copy()
    changed[150:] = 1e6
    prefix, *_ = RobustStream().run(np.vstack([changed, b]))
    np.testing.assert_array_equal(both[:, :150], prefix[:, :150])
    np.testing.assert_array_equal(both[1], prefix[1])


def test_fit_starts_from_history_and_resize_adds_empty_series() -> None:
    history = np.vstack([noisy(100, 8), np.full(100, np.nan)])
    model = RobustStream().fit(history)
    assert abs(model.center[0] - 10) < 0.3 and model.count[0] == 100 and model.count[1] == 0
    score, *_ = model.run(np.array([[10.0], [5.0]]))
    assert score[0, 0] < 1 and np.isnan(score[1, 0])
    model.resize(3)
    assert len(model.center) == 3 and model.count[2] == 0
