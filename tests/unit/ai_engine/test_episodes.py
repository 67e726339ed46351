"""Anomalies are logged per episode (start, peak, end, drivers), not per anomalous point."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from sentio.ai_engine.episodes import Episodes


def _episodes(caplog: pytest.LogCaptureFixture) -> Episodes:
    caplog.set_level(logging.INFO, logger="sentio.test.episodes")
    return Episodes(logging.getLogger("sentio.test.episodes"), "pumps")


def test_a_long_fault_is_two_records_with_its_peak_and_drivers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    episodes = _episodes(caplog)
    key = (("device", "pump-2"),)
    ts = np.arange(100, 110)
    scores = np.array([0.5, 1.5, 3.0, np.nan, 2.0, 4.0, 1.2, 0.9, 0.4, 0.3])
    drivers = {j: {"vibration": 0.9 - j / 100, "flow": 0.1} for j in range(10)}
    anomalous = episodes.observe(
        key, dict(key), "multivariate", ts, scores, lambda j: {"drivers": drivers[j]}
    )
    assert anomalous == 5
    start, end = caplog.records
    assert start.getMessage() == "anomaly in pumps began: score 1.50"
    assert (start.levelno, start.episode, start.device) == (logging.WARNING, "start", "pump-2")
    assert end.getMessage() == "anomaly in pumps ended after 6 s: peak 4.00"
    assert (end.episode_start, end.episode_end, end.peak_time) == (101, 107, 105)
    assert end.anomalous_points == 5 and end.peak_score == 4.0
    assert end.drivers == "vibration=0.85, flow=0.10"  # at the peak


def test_an_episode_spans_cycles_and_a_new_fault_opens_another(
    caplog: pytest.LogCaptureFixture,
) -> None:
    episodes = _episodes(caplog)
    key = (("__name__", "temperature"), ("device", "d"))
    detail = lambda j: {"value": float(j)}  # noqa: E731
    for cycle in range(5):  # the fault lasts five cycles: still one record
        episodes.observe(
            key, dict(key), "robust", np.arange(3) + 3 * cycle, np.full(3, 2.0), detail
        )
    assert [r.episode for r in caplog.records] == ["start"]
    assert caplog.records[0].metric == "temperature"
    episodes.observe(
        key, dict(key), "robust", np.array([20, 21, 22]), np.array([0.5, 5, 0.5]), detail
    )
    assert [r.episode for r in caplog.records] == ["start", "end", "start", "end"]
    assert caplog.records[1].duration_s == 20 and caplog.records[1].anomalous_points == 15
    assert episodes.open == {}


def test_a_healthy_series_costs_no_walk_and_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    episodes = _episodes(caplog)
    calls: list[int] = []
    scores = np.array([0.1, np.nan, 0.9])
    got = episodes.observe((), {}, "robust", np.arange(3), scores, lambda j: {"j": calls.append(j)})
    assert got == 0 and not caplog.records and not calls
