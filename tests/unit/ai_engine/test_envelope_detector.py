from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.models import EnvelopeConfig, EnvelopeDetector, StreamingDetector
from sentio.ai_engine.models.shapes import ShapeMemory
from sentio.ai_engine.models.timeofday import TimeOfDayMedian
from sentio.ai_engine.models.windows import SlidingMax, SlidingMedian, SlidingMin
from sentio.ai_engine.nab.runner import FirstEvents

FAULT = 1500
STEP_S = 300.0  # five-minute samples: a day is 288 rows
SETTLED = 600  # envelopes have seen two days of the signal by then


def signal(n: int = 2000) -> np.ndarray:
    rng = np.random.default_rng(1)
    rows = np.arange(n)
    return 10.0 + 2.0 * np.sin(2 * np.pi * rows / 288) + rng.uniform(-0.3, 0.3, n)


def scores(values: np.ndarray, nab: bool = True) -> np.ndarray:
    """Score as NAB's runner does (first events only), or as the engine does (``nab=False``)."""
    config = EnvelopeConfig()
    detector: StreamingDetector = FirstEvents(config) if nab else EnvelopeDetector(config)
    return np.array([detector.update(STEP_S * i, float(v)) for i, v in enumerate(values)])


def events(values: np.ndarray) -> list[int]:
    out = scores(values)
    assert np.all((out >= 0.0) & (out < 1.0))
    return [int(i) for i in np.flatnonzero(out > 0.0) if i >= SETTLED]


def test_clean_signal_raises_nothing_once_settled() -> None:
    assert events(signal()) == []


def test_spike_is_flagged_on_its_own_row_and_nowhere_else() -> None:
    values = signal()
    values[FAULT] += 5.0
    assert events(values) == [FAULT]


def test_level_shift_is_flagged_on_its_first_row_only() -> None:
    values = signal()
    values[FAULT:] += 3.0
    assert events(values) == [FAULT]


def test_slow_drift_is_flagged_once_it_leaves_the_daily_range() -> None:
    values = signal()
    values[FAULT:] += 0.01 * np.arange(len(values) - FAULT)
    first = events(values)[0]
    # 0.01 per row against a daily swing of +-2: flagged after 100 to 250 rows of drift.
    assert FAULT + 100 <= first <= FAULT + 250


def test_stuck_sensor_is_flagged_once_the_spread_window_is_flat() -> None:
    values = signal()
    values[FAULT:] = values[FAULT - 1]
    spread_window = EnvelopeConfig().spread_window
    # The row before the fault already holds the stuck value, so the window is flat one row early.
    found = events(values)
    assert found[0] == FAULT + spread_window - 2
    assert all(FAULT <= row < FAULT + 2 * spread_window for row in found)


def test_no_look_ahead_scores_up_to_a_row_ignore_later_rows() -> None:
    values = signal(800)
    changed = values.copy()
    changed[500:] = np.random.default_rng(2).normal(50.0, 20.0, 300)
    np.testing.assert_array_equal(scores(values)[:500], scores(changed)[:500])


def test_missing_samples_score_zero_and_leave_the_state_alone() -> None:
    values = signal()
    values[FAULT] += 5.0
    with_gaps = values.copy()
    with_gaps[[700, 900]] = np.nan
    detector = EnvelopeDetector()
    out = [detector.update(STEP_S * i, float(v)) for i, v in enumerate(with_gaps)]
    assert out[700] == out[900] == 0.0
    assert [i for i, s in enumerate(out) if s > 0.0 and i >= SETTLED] == [FAULT]


def test_learning_rows_score_zero() -> None:
    values = np.random.default_rng(3).normal(0.0, 1.0, 400)
    values[50] = 100.0
    assert np.all(scores(values)[: EnvelopeConfig().learning_rows] == 0.0)


def test_nab_hold_stops_repeated_scores_right_after_an_event() -> None:
    values = signal()
    values[FAULT : FAULT + 5] += np.array([4.0, 6.0, 8.0, 10.0, 12.0])
    out = scores(values)
    assert out[FAULT] > 0.0
    assert np.all(out[FAULT + 1 : FAULT + EnvelopeConfig().hold_rows + 1] == 0.0)


def test_the_engine_score_keeps_every_event_of_a_growing_fault() -> None:
    values = signal()
    values[FAULT : FAULT + 5] += np.array([4.0, 6.0, 8.0, 10.0, 12.0])
    out = scores(values, nab=False)
    assert np.all(out[FAULT : FAULT + 5] > 0.5)  # each row outgrows the one before it
    assert scores(values)[FAULT] > 0.0


def test_sliding_statistics() -> None:
    median, high, low = SlidingMedian(3), SlidingMax(3), SlidingMin(3)
    seen = []
    for value in [5.0, 1.0, 4.0, 2.0, 3.0]:
        median.add(value)
        high.add(value)
        low.add(value)
        seen.append((median.median(), high.max(), low.min()))
    assert seen[-1] == (3.0, 4.0, 2.0)
    assert seen[1] == (5.0, 5.0, 1.0)


def test_shape_memory_never_matches_an_overlapping_shape() -> None:
    memory = ShapeMemory(length=4, buckets=2, capacity=100)
    distances = [memory.update(float(v)) for v in [1, 1, 1, 1] * 10 + [9, 9, 9, 9]]
    assert distances[-5] == 0.0  # a repeat of what it has seen
    assert distances[-1] == pytest.approx(np.hypot(8, 8))
    with pytest.raises(ValueError, match="multiple"):
        ShapeMemory(length=5, buckets=2, capacity=10)


def test_time_of_day_median_compares_with_the_same_slot_on_earlier_days() -> None:
    day = TimeOfDayMedian(slots=24, depth=3)
    hour = 3600.0
    for d in range(3):
        assert day.deviation(d * 86400.0 + 2 * hour, 5.0 + d) is None  # slot 2 filling
        assert day.deviation(d * 86400.0 + 14 * hour, 50.0) is None
    assert day.deviation(3 * 86400.0 + 2 * hour + 60.0, 9.0) == pytest.approx(3.0)  # median 6
    assert day.deviation(3 * 86400.0 + 14 * hour, 50.0) == 0.0
