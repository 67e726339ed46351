from __future__ import annotations

import math

import numpy as np
import pytest
from sentio.ai_engine.nab.corpus import CostMatrix, NabSeries
from sentio.ai_engine.nab.evaluate import evaluate
from sentio.ai_engine.nab.scorer import (
    normalise,
    optimise_threshold,
    scaled_sigmoid,
    score_detections,
    sweep,
)

STANDARD = CostMatrix(tp=1.0, fp=0.11, fn=1.0)
WINDOW = (20, 30)  # 11 rows: x = -(30 - row + 1) / 11 inside, (row - 30) / 10 past it


def detect(*rows: int, n: int = 100) -> np.ndarray:
    out = np.zeros(n, dtype=np.bool_)
    out[list(rows)] = True
    return out


def raw(*rows: int, probation: int = 0, windows: tuple[tuple[int, int], ...] = (WINDOW,)) -> float:
    return score_detections(detect(*rows), windows, probation, STANDARD).raw


def test_scaled_sigmoid_is_minus_tanh_of_2_5_x() -> None:
    # 2 * sigmoid(-5x) - 1 == tanh(-2.5x); beyond 3 widths it is exactly -1.
    assert scaled_sigmoid(-1.0) == pytest.approx(math.tanh(2.5))
    assert scaled_sigmoid(0.0) == pytest.approx(0.0)
    assert scaled_sigmoid(3.0) == pytest.approx(math.tanh(-7.5))
    assert scaled_sigmoid(3.01) == -1.0


def test_detection_at_left_edge_is_worth_tp_weight() -> None:
    assert raw(20) == pytest.approx(1.0)


def test_detection_at_right_edge_is_worth_one_row_of_the_window() -> None:
    # NAB's sweeper.py: x = -(end - row + 1) / (end - start + 1), so never 0 inside a window.
    assert raw(30) == pytest.approx(math.tanh(2.5 / 11) / math.tanh(2.5))


def test_detection_mid_window_is_scaled_sigmoid_over_left_edge() -> None:
    assert raw(25) == pytest.approx(math.tanh(2.5 * 6 / 11) / math.tanh(2.5))  # 0.9091


def test_only_the_earliest_detection_in_a_window_counts() -> None:
    assert raw(22, 25, 29) == pytest.approx(math.tanh(2.5 * 9 / 11) / math.tanh(2.5))
    assert score_detections(detect(22, 25, 29), (WINDOW,), 0, STANDARD).fp == 0


def test_false_positive_right_after_a_window_costs_little() -> None:
    # Row 31 is 1/10 of a width past the window: -0.11 * tanh(0.25) = -0.02694.
    assert raw(20, 31) == pytest.approx(1.0 - 0.11 * math.tanh(0.25))
    assert 0.11 * math.tanh(0.25) == pytest.approx(0.02694, abs=1e-5)


def test_false_positive_before_any_window_costs_full_fp_weight() -> None:
    assert raw(5, 20) == pytest.approx(1.0 - 0.11)


def test_false_positive_far_past_a_window_costs_full_fp_weight() -> None:
    assert raw(20, 62) == pytest.approx(1.0 - 0.11)  # 3.2 widths past


def test_false_positive_is_measured_from_the_preceding_window() -> None:
    windows = ((20, 30), (60, 70))
    # Row 72 is 0.2 widths past the second window, not 4.2 past the first.
    assert raw(20, 60, 72, windows=windows) == pytest.approx(2.0 - 0.11 * math.tanh(0.5))


def test_missed_window_costs_fn_weight() -> None:
    assert raw() == pytest.approx(-1.0)
    assert score_detections(detect(), (WINDOW,), 0, STANDARD).fn == 1


def test_detections_in_probationary_period_are_ignored() -> None:
    assert raw(5, probation=10) == pytest.approx(-1.0)  # FP ignored, window missed
    assert raw(21, probation=22) == pytest.approx(-1.0)  # TP ignored too
    assert raw(21, 25, probation=22) == pytest.approx(math.tanh(2.5 * 6 / 11) / math.tanh(2.5))


def test_low_fn_profile_doubles_the_miss_cost() -> None:
    low_fn = CostMatrix(tp=1.0, fp=0.11, fn=2.0)
    assert score_detections(detect(), (WINDOW,), 0, low_fn).raw == pytest.approx(-2.0)


def test_threshold_optimisation_picks_the_best_threshold() -> None:
    scores = np.zeros(100)
    scores[5] = 0.95  # FP before the window: -0.11
    scores[20] = 0.9  # TP at the left edge: +1
    scores[50] = 0.8  # FP 2 widths past: -0.11 * tanh(5)
    best = optimise_threshold([sweep(scores, (WINDOW,), 0, STANDARD)])
    # t > 0.95: -1; t = 0.95: -1.11; t = 0.9: 0.89; t = 0.8: 0.89 - 0.11 * tanh(5)
    assert best.threshold == 0.9
    assert best.raw == pytest.approx(0.89)


def test_threshold_optimisation_keeps_null_when_every_detection_hurts() -> None:
    scores = np.zeros(100)
    scores[5] = 0.7
    best = optimise_threshold([sweep(scores, (WINDOW,), 0, STANDARD)])
    assert best.threshold == math.inf
    assert best.raw == pytest.approx(-1.0)


def test_sweep_matches_scoring_at_every_threshold() -> None:
    rng = np.random.default_rng(7)
    windows = ((10, 25), (120, 150))  # the first starts inside the probation
    scores = np.round(rng.random(200), 2)
    events = sweep(scores, windows, 15, STANDARD)
    for threshold in np.unique(scores):
        direct = score_detections(scores >= threshold, windows, 15, STANDARD).raw
        swept = events.base + float(np.sum(events.gain[events.value >= threshold]))
        assert swept == pytest.approx(direct)


def series(name: str, n: int, windows: tuple[tuple[int, int], ...]) -> NabSeries:
    stamps = tuple(f"2020-01-01 00:{i // 60:02d}:{i % 60:02d}" for i in range(n))
    return NabSeries(name, stamps, np.zeros(n), windows)


def test_normalisation_gives_100_for_perfect_and_0_for_null() -> None:
    files = [
        series("a/one.csv", 200, ((40, 60),)),
        series("b/two.csv", 300, ((100, 130), (200, 240))),
    ]
    profiles = {"standard": STANDARD, "reward_low_FN_rate": CostMatrix(1.0, 0.11, 2.0)}
    perfect = []
    for item in files:
        scores = np.zeros(len(item.values))
        for start, _ in item.windows:
            scores[start] = 1.0
        perfect.append(scores)
    null = [np.zeros(len(item.values)) for item in files]
    for result in evaluate(files, perfect, profiles).values():
        assert result.score == pytest.approx(100.0)
        assert (result.tp, result.fp, result.fn) == (3, 0, 0)
    for result in evaluate(files, null, profiles).values():
        assert result.score == pytest.approx(0.0)
    assert normalise(0.0, -3.0, 3.0) == pytest.approx(50.0)
