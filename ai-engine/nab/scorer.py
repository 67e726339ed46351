"""Score anomaly detections by NAB's rules, and pick the threshold that scores best.

Rows are indexed from 0; a window is an inclusive row range ``(start, end)``. As NAB's own
``sweeper.py`` does, a row inside a window sits at ``x = -(end - row + 1) / (end - start + 1)``:
-1 at the window's left edge and -1 / (its row count) at its right edge; a row past a window
sits at ``x = (row - end) / (end - start)``, the distance past it in units of its width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sentio.ai_engine.nab.corpus import CostMatrix

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Window = tuple[int, int]
FAR_PAST_WINDOW = 3.0


def scaled_sigmoid(x: npt.ArrayLike) -> FloatArray:
    """Return ``2 * sigmoid(-5 x) - 1``, and exactly -1 beyond 3 widths past a window."""
    arr = np.asarray(x, dtype=np.float64)
    capped = np.minimum(arr, FAR_PAST_WINDOW)
    out = 2.0 / (1.0 + np.exp(5.0 * capped)) - 1.0
    return np.asarray(np.where(arr > FAR_PAST_WINDOW, -1.0, out), dtype=np.float64)


@dataclass(frozen=True)
class RowWeights:
    """What a detection at each row is worth, and which window (or none, -1) holds the row."""

    weight: FloatArray
    window: npt.NDArray[np.int64]
    probation: int


def row_weights(
    n_rows: int, windows: Sequence[Window], probation: int, cost: CostMatrix
) -> RowWeights:
    """Return the worth of a detection at every row of a series."""
    rows = np.arange(n_rows, dtype=np.float64)
    weight = np.full(n_rows, -cost.fp, dtype=np.float64)
    which = np.full(n_rows, -1, dtype=np.int64)
    left_edge = float(scaled_sigmoid(-1.0))
    for k, (start, end) in enumerate(windows):
        width = end - start
        inside = rows[start : end + 1]
        x = -(end - inside + 1) / (width + 1)
        weight[start : end + 1] = cost.tp * scaled_sigmoid(x) / left_edge
        which[start : end + 1] = k
        stop = windows[k + 1][0] if k + 1 < len(windows) else n_rows
        past = (rows[end + 1 : stop] - end) / max(width, 1)
        weight[end + 1 : stop] = cost.fp * scaled_sigmoid(past)
    return RowWeights(weight, which, probation)


@dataclass(frozen=True)
class FileScore:
    """Counts and raw score of one series at one threshold."""

    tp: int
    fp: int
    fn: int
    raw: float


def score_detections(
    detected: BoolArray, windows: Sequence[Window], probation: int, cost: CostMatrix
) -> FileScore:
    """Score a boolean detection per row by NAB's rules."""
    weights = row_weights(len(detected), windows, probation, cost)
    counted = np.asarray(detected, dtype=np.bool_).copy()
    counted[:probation] = False
    outside = counted & (weights.window < 0)
    raw = float(np.sum(weights.weight[outside]))
    tp = 0
    for start, end in windows:
        hits = np.flatnonzero(counted[start : end + 1])
        if len(hits):
            tp += 1
            raw += float(weights.weight[start + hits[0]])
        else:
            raw -= cost.fn
    return FileScore(tp, int(np.sum(outside)), len(windows) - tp, raw)


@dataclass(frozen=True)
class Sweep:
    """A series' raw score as a step function of the threshold.

    At threshold ``t`` the raw score is ``base + sum(gain[value >= t])``.
    """

    value: FloatArray
    gain: FloatArray
    base: float


def sweep(scores: FloatArray, windows: Sequence[Window], probation: int, cost: CostMatrix) -> Sweep:
    """Return the threshold events of one scored series."""
    weights = row_weights(len(scores), windows, probation, cost)
    live = np.arange(len(scores)) >= probation
    outside = live & (weights.window < 0)
    values = [scores[outside]]
    gains = [weights.weight[outside]]
    for start, end in windows:
        first = max(start, probation)
        if first > end:
            continue
        window_scores = scores[first : end + 1]
        best_before = np.concatenate(([-np.inf], np.maximum.accumulate(window_scores)[:-1]))
        records = np.flatnonzero(window_scores > best_before)
        worth = weights.weight[first + records]
        # Lowering the threshold to a record's score moves the earliest detection to that record.
        step = worth - np.append(worth[1:], -cost.fn)
        values.append(window_scores[records])
        gains.append(step)
    return Sweep(np.concatenate(values), np.concatenate(gains), -cost.fn * len(windows))


@dataclass(frozen=True)
class Optimum:
    """The best threshold over a corpus and the raw score it gives."""

    threshold: float
    raw: float


def optimise_threshold(sweeps: Sequence[Sweep]) -> Optimum:
    """Return the single threshold that maximises the summed raw score of every sweep."""
    base = math.fsum(s.base for s in sweeps)
    value = np.concatenate([s.value for s in sweeps]) if sweeps else np.empty(0)
    gain = np.concatenate([s.gain for s in sweeps]) if sweeps else np.empty(0)
    if len(value) == 0:
        return Optimum(math.inf, base)
    order = np.argsort(-value, kind="stable")
    value, total = value[order], base + np.cumsum(gain[order])
    last_of_tie = np.append(value[1:] != value[:-1], True)
    value, total = value[last_of_tie], total[last_of_tie]
    best = int(np.argmax(total))
    if total[best] <= base:
        return Optimum(math.inf, base)
    return Optimum(float(value[best]), float(total[best]))


def normalise(raw: float, null: float, perfect: float) -> float:
    """Return ``100 * (raw - null) / (perfect - null)``."""
    if perfect == null:
        raise ValueError("perfect and null detectors score the same; cannot normalise")
    return 100.0 * (raw - null) / (perfect - null)


def reference_scores(
    n_rows: int, windows: Sequence[Window], probation: int, cost: CostMatrix
) -> tuple[float, float]:
    """Return the raw scores of the null and the perfect detector on one series."""
    null = score_detections(np.zeros(n_rows, dtype=np.bool_), windows, probation, cost)
    at_starts = np.zeros(n_rows, dtype=np.bool_)
    for start, _ in windows:
        at_starts[start] = True
    perfect = score_detections(at_starts, windows, probation, cost)
    return null.raw, perfect.raw
