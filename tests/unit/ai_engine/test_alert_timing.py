"""The alert rule's timing as vmalert applies it: `for:`, the hold, pending waits and resolution."""

from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.alerts import RuleTiming, firings, go_seconds


def _times(rows: int, step: float = 60.0) -> np.ndarray:
    return np.arange(rows) * step


def test_go_durations_are_read_and_junk_is_named() -> None:
    assert go_seconds("15m") == 900
    assert go_seconds("1h30m") == 5400
    assert go_seconds("0s") == 0
    with pytest.raises(ValueError, match="2 minutes"):
        go_seconds("2 minutes")


def test_a_score_above_one_for_longer_than_for_fires_once_and_resolves() -> None:
    score = np.r_[np.zeros(5), 2 * np.ones(10), np.zeros(5)]
    [only] = firings(_times(20), score, RuleTiming(for_s=300))
    assert only.fired_s == 5 * 60 + 300
    assert only.resolved_s == 15 * 60


def test_a_shorter_excursion_never_fires() -> None:
    score = np.r_[np.zeros(5), 2 * np.ones(4), np.zeros(5)]
    assert firings(_times(14), score, RuleTiming(for_s=300)) == []


def test_a_score_flickering_around_one_fires_only_with_a_hold() -> None:
    flicker = np.tile([1.2, 1.2, 0.9], 20)  # above 1 two steps in three, for an hour
    assert firings(_times(60), flicker, RuleTiming(for_s=600)) == []
    [held] = firings(_times(60), flicker, RuleTiming(for_s=600, hold_s=120))
    assert held.fired_s == 600
    assert held.resolved_s >= 59 * 60


def test_a_lone_spike_does_not_fire_when_the_hold_is_shorter_than_for() -> None:
    score = np.r_[np.zeros(10), [5.0], np.zeros(20)]
    assert firings(_times(31), score, RuleTiming(for_s=600, hold_s=300)) == []


def test_between_samples_the_rule_sees_the_latest_one() -> None:
    score = np.r_[0.0, 2.0, 2.0, 0.0]  # samples 3 minutes apart: above 1 for 6 minutes
    [fired] = firings(_times(4, 180.0), score, RuleTiming(for_s=300))
    assert fired.fired_s == 180 + 300
    assert firings(_times(4, 180.0), score, RuleTiming(for_s=420)) == []
