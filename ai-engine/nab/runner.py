"""Run a streaming detector over every series of the corpus, row by row."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed

import numpy as np
from sentio.ai_engine.models import EnvelopeConfig, EnvelopeDetector
from sentio.ai_engine.nab.corpus import NabSeries
from sentio.ai_engine.nab.scorer import FloatArray

OnScored = Callable[[NabSeries], None]


def unix_seconds(timestamps: Sequence[str]) -> FloatArray:
    """Return the timestamps as unix seconds."""
    times = np.array(timestamps, dtype="datetime64[us]")
    return times.astype(np.int64).astype(np.float64) / 1e6


class FirstEvents:
    """The envelope detector as NAB scores it: one event per anomaly, ranked by quiet time.

    NAB rewards only an anomaly's first detection and charges every later one as a false
    positive, so after an event the next ``hold_rows`` rows are not events, and an event soon
    after the previous one scores lower. The engine's own score keeps neither.
    """

    def __init__(self, config: EnvelopeConfig) -> None:
        self.config = config
        self.detector = EnvelopeDetector(config)
        self._row = 0
        self._hold_until = -1
        self._last_event = 0

    def update(self, timestamp: float, value: float) -> float:
        """Take the next sample and return its NAB score in [0, 1); skip non-finite ones."""
        if not (math.isfinite(value) and math.isfinite(timestamp)):
            return 0.0
        ratio = self.detector.ratio(timestamp, value)
        row = self._row
        self._row += 1
        cfg = self.config
        if ratio < cfg.trigger or row <= self._hold_until:
            return 0.0
        quiet = min(row - self._last_event, cfg.quiet_rows) / cfg.quiet_rows
        confidence = ratio * (1.0 - cfg.quiet_weight + cfg.quiet_weight * quiet)
        self._hold_until = row + cfg.hold_rows
        self._last_event = row
        return confidence / (1.0 + confidence)


def score_series(values: FloatArray, times: FloatArray, config: EnvelopeConfig) -> FloatArray:
    """Feed one series to a fresh detector in order and return each row's NAB score."""
    detector = FirstEvents(config)
    scores = np.empty(len(values), dtype=np.float64)
    for row, (stamp, value) in enumerate(zip(times.tolist(), values.tolist(), strict=True)):
        scores[row] = detector.update(stamp, value)
    return scores


def score_corpus(
    series: Sequence[NabSeries],
    config: EnvelopeConfig,
    jobs: int = 1,
    progress: OnScored | None = None,
) -> list[FloatArray]:
    """Score every series (in worker processes when ``jobs`` > 1), in the given order."""
    done = progress or (lambda _series: None)
    if jobs <= 1:
        out = []
        for item in series:
            out.append(score_series(item.values, unix_seconds(item.timestamps), config))
            done(item)
        return out
    # Longest first keeps both workers busy until the end.
    order = sorted(range(len(series)), key=lambda i: -len(series[i].values))
    results: dict[int, FloatArray] = {}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(
                score_series, series[i].values, unix_seconds(series[i].timestamps), config
            ): i
            for i in order
        }
        for future in as_completed(futures):
            i = futures[future]
            results[i] = future.result()
            done(series[i])
    return [results[i] for i in range(len(series))]
