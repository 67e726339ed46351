"""Faults that end: TEP runs in which a fault is switched on and normal operation resumes.

Each run is built from the test files: the rows of ``dNN_te.dat`` up to the fault's end (its
first 160 rows are normal, the fault starts after row 160), then the rows of ``d00_te.dat`` from
the same sample index on, as if the fault had been switched off there. The first seam is the
test file's own; at the second the plant is back in its normal state at once (no settling
transient, no level matching: the normal run simply continues at the same time since start).
Fault durations of 1, 4, 12 and 24 hours (20, 80, 240 and 480 rows of 3 minutes) give 84 runs,
and the normal test file is an 85th run with no fault.

Scored per row at the model's alarm level (score above 1) and as the rows the alert is firing,
and per episode as the default alert
rule would fire on the score (``alerts.firings``): an alert fired while a fault was on is a
detection (its delay from the fault's start), one fired while the plant was normal is a false
alert episode. Recovery is how long after the fault ends the score first falls below 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sentio.ai_engine.alerts import Firing, RuleTiming, firings
from sentio.ai_engine.tep.data import FAULT_START, FAULTS, UNDETECTABLE, FloatArray, TepData
from sentio.ai_engine.tep.scoring import BoolArray, RowCounts, device_score
from sentio.ai_engine.tep.tune import CHOSEN, Settings

ROW_S = 180.0
DURATIONS = (20, 80, 240, 480)
DAY_S = 86_400.0


@dataclass(frozen=True)
class Run:
    """One run: its rows, which rows had the fault on, and which fault (0 for none)."""

    fault: int
    frame: FloatArray
    truth: BoolArray

    @property
    def start(self) -> int:
        """Return the first fault row (the run's length when there is none)."""
        on = np.flatnonzero(self.truth)
        return int(on[0]) if len(on) else len(self.truth)

    @property
    def end(self) -> int:
        """Return the first row after the fault."""
        on = np.flatnonzero(self.truth)
        return int(on[-1]) + 1 if len(on) else len(self.truth)


def runs(data: TepData, durations: tuple[int, ...] = DURATIONS) -> list[Run]:
    """Return the runs: each fault for each duration, then the normal test file alone."""
    out = []
    for k in FAULTS:
        for rows in durations:
            end = FAULT_START + rows
            frame = np.vstack([data.faults[k][:end], data.normal[end:]])
            truth = (np.arange(len(frame)) >= FAULT_START) & (np.arange(len(frame)) < end)
            out.append(Run(k, frame, truth))
    out.append(Run(0, data.normal, np.zeros(len(data.normal), dtype=np.bool_)))
    return out


@dataclass
class EpisodeCounts:
    """Per-episode figures of one set of runs under one alert rule."""

    episodes: int = 0
    alerted: int = 0
    false_alerts: int = 0
    normal_s: float = 0.0
    delays_s: list[float] = field(default_factory=list)
    recovery_s: list[float] = field(default_factory=list)
    never_recovered: int = 0
    resolve_s: list[float] = field(default_factory=list)

    def add(self, run: Run, score: FloatArray, rule: RuleTiming) -> None:
        """Count one run's alert episodes and its recovery after the fault."""
        times = np.arange(len(score)) * ROW_S
        start_s, end_s = run.start * ROW_S, run.end * ROW_S
        self.normal_s += float(np.sum(~run.truth)) * ROW_S
        fired = firings(times, score, rule)
        during = [f for f in fired if start_s <= f.fired_s < end_s]
        self.false_alerts += len(fired) - len(during)
        if run.fault:
            self.episodes += 1
            if during:
                self.alerted += 1
                self.delays_s.append(during[0].fired_s - start_s)
                self.resolve_s.append(max(during[-1].resolved_s - end_s, 0.0))
            below = np.flatnonzero(score[run.end :] <= 1.0)
            if len(below):
                self.recovery_s.append(float(below[0]) * ROW_S)
            elif run.end < len(score):
                self.never_recovered += 1

    def as_json(self) -> dict[str, Any]:
        """Return the share of faults alerted, false alerts per day, delays and recoveries."""

        def spread(values: list[float]) -> dict[str, float | None]:
            if not values:
                return {"median": None, "p90": None, "max": None}
            v = np.asarray(values)
            return {
                "median": round(float(np.median(v)), 1),
                "p90": round(float(np.quantile(v, 0.9)), 1),
                "max": round(float(v.max()), 1),
            }

        return {
            "episodes": self.episodes,
            "share_alerted": round(self.alerted / max(self.episodes, 1), 4),
            "false_alert_episodes": self.false_alerts,
            "normal_days": round(self.normal_s / DAY_S, 2),
            "false_alerts_per_day": round(self.false_alerts / max(self.normal_s / DAY_S, 1e-9), 3),
            "detection_delay_s": spread(self.delays_s),
            "score_below_1_after_end_s": spread(self.recovery_s),
            "never_below_1_after_end": self.never_recovered,
            "alert_resolved_after_end_s": spread(self.resolve_s),
        }


@dataclass(frozen=True)
class EpisodeOutcome:
    """The per-row and per-episode figures, over all 21 faults and over the 18 detectable."""

    rows: dict[str, RowCounts]
    alert_rows: dict[str, RowCounts]
    episodes: dict[str, EpisodeCounts]
    rule: RuleTiming
    settings: Settings
    runs: int
    recovery_rows: int

    def as_json(self) -> dict[str, Any]:
        """Return every figure, keyed by fault set."""
        return {
            "runs": self.runs,
            "row_s": ROW_S,
            "durations_rows": list(DURATIONS),
            "settings": self.settings.as_json(),
            "recovery_bound_s": self.recovery_rows * ROW_S,
            "rule": {
                "for_s": self.rule.for_s,
                "interval_s": self.rule.interval_s,
                "hold_s": self.rule.hold_s,
            },
            "per_row": {
                name: {**c.as_json(), "flag_every_row_f1": round(_flag_all(c), 4)}
                for name, c in self.rows.items()
            },
            "per_row_alert_firing": {name: c.as_json() for name, c in self.alert_rows.items()},
            "per_episode": {name: c.as_json() for name, c in self.episodes.items()},
        }


def _flag_all(counts: RowCounts) -> float:
    faults = counts.true_positive + counts.false_negative
    return 2 * faults / max(2 * faults + counts.false_positive + counts.true_negative, 1)


def firing_rows(length: int, fired: list[Firing]) -> BoolArray:
    """Return which rows the alert was firing on (from the row it fired at to its resolution)."""
    times = np.arange(length) * ROW_S
    out = np.zeros(length, dtype=np.bool_)
    for f in fired:
        out |= (times + ROW_S > f.fired_s) & (times < f.resolved_s)
    return out


def evaluate_episodes(
    data: TepData, rule: RuleTiming, settings: Settings = CHOSEN
) -> EpisodeOutcome:
    """Fit on ``d00.dat``, score every run, count per row and per episode."""
    model = settings.model().fit(data.train)
    sets = {"faults_21": set(FAULTS), "faults_18": set(FAULTS) - set(UNDETECTABLE)}
    rows = {name: RowCounts() for name in sets}
    alert_rows = {name: RowCounts() for name in sets}
    episodes = {name: EpisodeCounts() for name in sets}
    built = runs(data)
    for run in built:
        score = device_score(model, run.frame)
        alerting = firing_rows(len(score), firings(np.arange(len(score)) * ROW_S, score, rule))
        for name, faults in sets.items():
            if run.fault == 0 or run.fault in faults:
                rows[name].add(score > 1.0, run.truth)
                alert_rows[name].add(alerting, run.truth)
                episodes[name].add(run, score, rule)
    outcome = EpisodeOutcome(
        rows, alert_rows, episodes, rule, settings, len(built), model.recovery_rows
    )
    return outcome
