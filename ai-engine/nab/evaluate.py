"""Score a whole corpus's anomaly scores under every NAB profile."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sentio.ai_engine.nab.corpus import CostMatrix, NabSeries
from sentio.ai_engine.nab.scorer import (
    FloatArray,
    normalise,
    optimise_threshold,
    reference_scores,
    score_detections,
    sweep,
)


@dataclass(frozen=True)
class ProfileResult:
    """The normalised score of one profile, with its threshold and counts."""

    profile: str
    score: float
    threshold: float
    raw: float
    null: float
    perfect: float
    tp: int
    fp: int
    fn: int


def evaluate(
    series: Sequence[NabSeries],
    scores: Sequence[FloatArray],
    profiles: dict[str, CostMatrix],
) -> dict[str, ProfileResult]:
    """Return each profile's result for per-row ``scores`` of ``series`` (same order)."""
    if len(series) != len(scores):
        raise ValueError(f"{len(series)} series but {len(scores)} score arrays")
    for item, row_scores in zip(series, scores, strict=True):
        if len(row_scores) != len(item.values):
            raise ValueError(f"{item.name}: {len(row_scores)} scores for {len(item.values)} rows")
    return {name: _profile(name, cost, series, scores) for name, cost in profiles.items()}


def _profile(
    name: str, cost: CostMatrix, series: Sequence[NabSeries], scores: Sequence[FloatArray]
) -> ProfileResult:
    sweeps = [
        sweep(s, item.windows, item.probation, cost) for item, s in zip(series, scores, strict=True)
    ]
    best = optimise_threshold(sweeps)
    null = perfect = 0.0
    tp = fp = fn = 0
    for item, row_scores in zip(series, scores, strict=True):
        file_null, file_perfect = reference_scores(
            len(item.values), item.windows, item.probation, cost
        )
        null += file_null
        perfect += file_perfect
        counts = score_detections(
            np.asarray(row_scores >= best.threshold), item.windows, item.probation, cost
        )
        tp, fp, fn = tp + counts.tp, fp + counts.fp, fn + counts.fn
    return ProfileResult(
        name,
        normalise(best.raw, null, perfect),
        best.threshold,
        best.raw,
        null,
        perfect,
        tp,
        fp,
        fn,
    )
