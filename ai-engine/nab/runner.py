"""Run a streaming detector over every series of the corpus, row by row."""

from __future__ import annotations

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


def score_series(values: FloatArray, times: FloatArray, config: EnvelopeConfig) -> FloatArray:
    """Feed one series to a fresh detector in order and return each row's score."""
    detector = EnvelopeDetector(config)
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
