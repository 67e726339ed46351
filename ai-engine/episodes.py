"""Anomaly episodes: one log record when a series turns anomalous, one when it comes back.

A fault scores above 1 on every point it lasts; one record per point would be a flood. An
episode opens at the first point above 1 (logged then, with its score and drivers), keeps its
peak, and closes at the first finite point at or below 1 (logged with start, peak, end, the
duration, how many points were anomalous, and the drivers at the peak). Points without a score
(NaN) neither open nor close one. Open episodes live in memory: after a restart a fault that
still lasts opens a new one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sentio.ai_engine.reader import LabelSet

Detail = Callable[[int], dict[str, object]]
DRIVERS_LOGGED = 3
RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def _attribute_name(label: str) -> str:
    name = "metric" if label == "__name__" else label.strip("_") or label
    return f"label_{name}" if name in RESERVED else name


def log_attributes(values: Mapping[str, object]) -> dict[str, object]:
    """Return log-record extras: no None values, `__name__` as `metric`, safe key names."""
    return {_attribute_name(k): v for k, v in values.items() if v is not None}


def drivers_text(drivers: Mapping[str, float]) -> str:
    """Return the top drivers as ``name=share`` pairs, best first."""
    top = sorted(drivers.items(), key=lambda kv: -kv[1])[:DRIVERS_LOGGED]
    return ", ".join(f"{k}={v:.2f}" for k, v in top)


@dataclass
class Episode:
    """One open anomaly of one series (or device)."""

    start_s: int
    peak_s: int
    peak: float
    last_s: int
    points: int = 1
    detail: dict[str, object] = field(default_factory=dict)  # at the peak


class Episodes:
    """Track every series' open episode and log each one's start and end."""

    def __init__(self, events: logging.Logger, query: str) -> None:
        self.events = events
        self.query = query
        self.open: dict[LabelSet, Episode] = {}

    def observe(
        self, key: LabelSet, labels: Mapping[str, str], model: str,
        timestamps: npt.NDArray[np.int64] | npt.NDArray[np.float64],
        scores: npt.NDArray[np.float64], detail: Detail,
    ) -> int:  # fmt: skip
        """Follow one series' scores in time order; return how many points were anomalous.

        ``detail(j)`` returns what to log about point ``j`` (value, expected, drivers): it is
        called at an episode's start and at each new peak only.
        """
        above = scores > 1
        if key not in self.open and not above.any():
            return 0
        for j in range(len(scores)):
            score = float(scores[j])
            if not np.isfinite(score):
                continue
            ts = int(timestamps[j])
            episode = self.open.get(key)
            if score > 1:
                if episode is None:
                    episode = self.open[key] = Episode(ts, ts, score, ts, detail=detail(j))
                    self._started(labels, model, episode)
                    continue
                episode.points += 1
                episode.last_s = ts
                if score > episode.peak:
                    episode.peak, episode.peak_s, episode.detail = score, ts, detail(j)
            elif episode is not None:
                del self.open[key]
                self._ended(labels, model, episode, ts)
        return int(above.sum())

    def _attributes(
        self, labels: Mapping[str, str], model: str, episode: Episode
    ) -> dict[str, object]:
        detail = dict(episode.detail)
        drivers = detail.pop("drivers", None)
        return log_attributes(
            {**labels, **detail, "query": self.query, "model": model,
             "episode_start": episode.start_s, "peak_score": episode.peak,
             "peak_time": episode.peak_s,
             "drivers": drivers_text(drivers) if isinstance(drivers, Mapping) else None}
        )  # fmt: skip

    def _started(self, labels: Mapping[str, str], model: str, episode: Episode) -> None:
        self.events.warning(
            "anomaly in %s began: score %.2f", self.query, episode.peak,
            extra={**self._attributes(labels, model, episode), "score": episode.peak,
                   "episode": "start"},
        )  # fmt: skip

    def _ended(self, labels: Mapping[str, str], model: str, episode: Episode, end_s: int) -> None:
        self.events.info(
            "anomaly in %s ended after %d s: peak %.2f", self.query,
            end_s - episode.start_s, episode.peak,
            extra={**self._attributes(labels, model, episode), "episode": "end",
                   "episode_end": end_s, "duration_s": end_s - episode.start_s,
                   "anomalous_points": episode.points},
        )  # fmt: skip
