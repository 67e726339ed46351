"""Score the TEP test files with the engine's device model and the baselines, by the usual rules.

Every method is fitted on ``d00.dat`` only, with settings chosen on the training files alone
(``tune.CHOSEN``, which ``tune.choose`` picks from ``d00.dat`` and ``dNN.dat``), its alarm level
from out-of-fold rows of ``d00.dat``; it scores each test file from its first row on, each row
from that row and the ones before it. Detection is the share of rows after the fault starts
(rows 161-960) scored above the threshold; the false-alarm rate is the share of ``d00_te.dat``'s
rows above it. Two operating points: each method's own threshold (score > 1), and a matched 1%
false-alarm rate (the threshold at the 99th percentile of the method's own ``d00_te.dat`` score).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sentio.ai_engine.tep.baselines import DPCA_LAGS, Pca
from sentio.ai_engine.tep.data import (
    FAULT_START,
    FAULTS,
    NAMES,
    ROOT_VARIABLES,
    UNDETECTABLE,
    FloatArray,
    TepData,
)
from sentio.ai_engine.tep.scoring import device_score
from sentio.ai_engine.tep.tune import CHOSEN, Settings

MATCHED_FAR = 0.01
TOP_DRIVERS = 3
BASELINES = ("pca_t2", "pca_q", "dpca_t2", "dpca_q")
Scorer = Callable[[FloatArray], FloatArray]


@dataclass(frozen=True)
class MethodResult:
    """One method's detection per fault at both operating points, and its false-alarm rates."""

    detection: dict[int, float]
    detection_at_far1: dict[int, float]
    false_alarm_rate: float
    false_alarm_rate_pre_fault: float
    threshold_at_far1: float

    def summary(self) -> dict[str, float]:
        """Return the means over the 18 and the 21 faults and the false-alarm rate."""
        eighteen = [k for k in FAULTS if k not in UNDETECTABLE]
        return {
            "mean_detection_18": _mean(self.detection, eighteen),
            "mean_detection_21": _mean(self.detection, list(FAULTS)),
            "false_alarm_rate": round(self.false_alarm_rate, 4),
            "false_alarm_rate_pre_fault": round(self.false_alarm_rate_pre_fault, 4),
            "mean_detection_18_at_far1": _mean(self.detection_at_far1, eighteen),
            "mean_detection_21_at_far1": _mean(self.detection_at_far1, list(FAULTS)),
        }


@dataclass(frozen=True)
class RootCheck:
    """Whether a fault's root variable is among the top drivers of the alarmed rows."""

    fault: int
    roots: tuple[str, ...]
    top: tuple[str, ...]
    hit: bool
    row_share: float


@dataclass(frozen=True)
class TepOutcome:
    """The device model's and the baselines' results, and the explanation check."""

    sentio: MethodResult
    baselines: dict[str, MethodResult]
    roots: list[RootCheck] = field(default_factory=list)
    settings: Settings = CHOSEN

    def as_json(self) -> dict[str, Any]:
        """Return the summary, the baselines' summaries, the per-fault table and the check."""
        methods = {"sentio": self.sentio, **self.baselines}
        return {
            **self.sentio.summary(),
            "split": "fit and settings on d00.dat and d01.dat-d21.dat; scored on d00_te.dat "
            "and d01_te.dat-d21_te.dat",
            "settings": self.settings.as_json(),
            "baselines": {name: r.summary() for name, r in self.baselines.items()},
            "faults": {
                str(k): {
                    name: {
                        "detection": round(r.detection[k], 4),
                        "detection_at_far1": round(r.detection_at_far1[k], 4),
                    }
                    for name, r in methods.items()
                }
                for k in FAULTS
            },
            "explanation_top3": {
                str(c.fault): {
                    "roots": list(c.roots),
                    "top": list(c.top),
                    "hit": c.hit,
                    "alarmed_rows_with_root_in_top3": round(c.row_share, 4),
                }
                for c in self.roots
            },
            "explanation_top3_hits": sum(c.hit for c in self.roots),
            "explanation_top3_checked": len(self.roots),
        }


def _mean(values: dict[int, float], faults: list[int]) -> float:
    return round(float(np.mean([values[k] for k in faults])), 4)


def method_result(normal: FloatArray, faults: dict[int, FloatArray]) -> MethodResult:
    """Return detection and false alarms of per-row scores (normal test file, fault files)."""
    threshold = float(np.quantile(normal, 1.0 - MATCHED_FAR))
    pre = np.concatenate([s[:FAULT_START] for s in faults.values()])
    return MethodResult(
        detection={k: float(np.mean(s[FAULT_START:] > 1.0)) for k, s in faults.items()},
        detection_at_far1={
            k: float(np.mean(s[FAULT_START:] > threshold)) for k, s in faults.items()
        },
        false_alarm_rate=float(np.mean(normal > 1.0)),
        false_alarm_rate_pre_fault=float(np.mean(pre > 1.0)),
        threshold_at_far1=threshold,
    )


def root_check(fault: int, score: FloatArray, blame: FloatArray) -> RootCheck:
    """Check the top drivers over the fault's alarmed rows against its root variables."""
    roots = ROOT_VARIABLES[fault]
    rows = np.flatnonzero(score[FAULT_START:] > 1.0) + FAULT_START
    if len(rows) == 0:
        return RootCheck(fault, roots, (), False, 0.0)
    share = blame[rows] / np.maximum(blame[rows].sum(axis=1, keepdims=True), 1e-300)
    top = tuple(NAMES[j] for j in np.argsort(-share.mean(axis=0))[:TOP_DRIVERS])
    per_row = np.argsort(-share, axis=1)[:, :TOP_DRIVERS]
    root_index = [NAMES.index(r) for r in roots]
    row_share = float(np.mean(np.isin(per_row, root_index).any(axis=1)))
    return RootCheck(fault, roots, top, any(r in top for r in roots), row_share)


def evaluate_tep(data: TepData, settings: Settings = CHOSEN) -> TepOutcome:
    """Fit every method on the normal training rows and score every test file."""
    model = settings.model().fit(data.train)
    files = {0: data.normal, **data.faults}
    ours: dict[int, FloatArray] = {}
    checks: list[RootCheck] = []
    for k, frame in files.items():
        ours[k] = device_score(model, frame)
        if k in ROOT_VARIABLES:
            checks.append(root_check(k, ours[k], model.parts(frame)[1]))
    baselines: dict[str, MethodResult] = {}
    for prefix, lags in (("pca", 0), ("dpca", DPCA_LAGS)):
        pca = Pca(lags=lags).fit(data.train)
        scored = {k: pca.score(frame) for k, frame in files.items()}
        for i, stat in enumerate(("t2", "q")):
            per_file = {k: s[i] for k, s in scored.items()}
            baselines[f"{prefix}_{stat}"] = method_result(
                per_file[0], {k: per_file[k] for k in FAULTS}
            )
    sentio = method_result(ours[0], {k: ours[k] for k in FAULTS})
    return TepOutcome(sentio, {b: baselines[b] for b in BASELINES}, checks, settings)
