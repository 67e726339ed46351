"""Choose the device model's settings and the alert rule's timing from TEP's training files.

The test files (``*_te.dat``) are never read here. ``d00.dat`` is cut into blocks; for each
block a model is fitted on the other blocks, and each detectable fault's training file
(``dNN.dat``, every row after the fault started) is scored as a fault that ends: its first
``FAULT_ROWS`` rows, then the held-out normal block, as if the plant had come back. Each
candidate is scored per row at its own alarm level (score above 1): the false-alarm rate over
the normal rows (the blocks alone and after each fault) and F1. The winner has the best F1 among
the candidates whose false-alarm rate is at most ``MAX_FAR``; ties go to the engine's defaults.

The alert rule's ``for`` and hold (``choose_rule``) are chosen on the same training episodes,
as ``alerts.firings`` fires on them with rows 3 minutes apart: the shortest ``for`` that alerts
on as many faults as any candidate with at most ``MAX_FALSE_ALERTS_PER_DAY`` false alerts per day
of normal rows, then the longest hold that adds no false alert to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import product

import numpy as np
from sentio.ai_engine.alerts import RuleTiming, firings
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.ai_engine.tep.data import FAULTS, NAMES, UNDETECTABLE, FloatArray, TepTraining
from sentio.ai_engine.tep.scoring import BoolArray, RowCounts, device_score

OUTER_FOLDS = 5
ROW_S = 180.0
FOR_S = (120.0, 300.0, 600.0, 900.0, 1200.0, 1800.0)
HOLD_S = (0.0, 300.0, 600.0, 900.0)
MAX_FALSE_ALERTS_PER_DAY = 0.2
FAULT_ROWS = 240
MAX_FAR = 0.10
SMOOTHING = (0.1, 0.2, 0.3)
CLIP = (3.0, 4.0, 6.0)
MARGIN = (1.5, 2.0)


@dataclass(frozen=True)
class Settings:
    """The device model's settings one candidate uses."""

    smoothing: float = 0.1
    clip: float = 6.0
    margin: float = 2.0

    def model(self) -> DeviceModel:
        """Return an unfitted device model with these settings."""
        return DeviceModel(
            list(NAMES), smoothing=self.smoothing, margin=self.margin, clip=self.clip
        )

    def as_json(self) -> dict[str, float]:
        """Return the settings by name."""
        return {"smoothing": self.smoothing, "clip": self.clip, "margin": self.margin}


# What `choose` picks from the training files (a test re-runs it and checks).
CHOSEN = Settings(smoothing=0.3, clip=6.0, margin=1.5)
# The engine's own defaults, as `sentio ai run` fits a device (not chosen on TEP).
ENGINE = Settings(smoothing=DeviceModel.smoothing, clip=DeviceModel.clip, margin=DeviceModel.margin)


@dataclass(frozen=True)
class Trial:
    """A candidate's per-row figures on the training episodes."""

    settings: Settings
    counts: RowCounts

    def as_json(self) -> dict[str, float]:
        """Return the candidate's settings and figures."""
        return {**self.settings.as_json(), **self.counts.as_json()}


def training_runs(
    settings: Settings, training: TepTraining
) -> Iterator[tuple[int, FloatArray, BoolArray]]:
    """Yield (fault, score, truth) of each training episode, 0 for a normal block alone."""
    rows = len(training.normal)
    for held in np.array_split(np.arange(rows), OUTER_FOLDS):
        rest = np.ones(rows, dtype=np.bool_)
        rest[held] = False
        model = settings.model().fit(training.normal[rest])
        block = training.normal[held]
        yield 0, device_score(model, block), np.zeros(len(block), dtype=np.bool_)
        for k in FAULTS:
            if k in UNDETECTABLE:
                continue
            frame: FloatArray = np.vstack([training.faults[k][:FAULT_ROWS], block])
            yield k, device_score(model, frame), np.arange(len(frame)) < FAULT_ROWS


def trial(settings: Settings, training: TepTraining) -> Trial:
    """Score one candidate on the training episodes."""
    counts = RowCounts()
    for _, score, truth in training_runs(settings, training):
        counts.add(score > 1.0, truth)
    return Trial(settings, counts)


def choose(training: TepTraining) -> tuple[Trial, list[Trial]]:
    """Return the winning candidate and every candidate's trial."""
    trials = [trial(Settings(s, c, m), training) for s, c, m in product(SMOOTHING, CLIP, MARGIN)]
    allowed = [t for t in trials if t.counts.false_alarm_rate <= MAX_FAR] or trials
    default = Settings()
    best = max(allowed, key=lambda t: (round(t.counts.f1, 3), t.settings == default))
    return best, trials


@dataclass(frozen=True)
class RuleTrial:
    """One alert rule's figures on the training episodes."""

    rule: RuleTiming
    alerted: int
    episodes: int
    false_alerts: int
    normal_days: float

    @property
    def false_alerts_per_day(self) -> float:
        """Return the false alert episodes per day of normal rows."""
        return self.false_alerts / max(self.normal_days, 1e-9)

    def as_json(self) -> dict[str, float]:
        """Return the rule's timing and figures."""
        return {
            "for_s": self.rule.for_s,
            "hold_s": self.rule.hold_s,
            "share_alerted": round(self.alerted / max(self.episodes, 1), 4),
            "false_alerts_per_day": round(self.false_alerts_per_day, 3),
        }


def rule_trial(rule: RuleTiming, episodes: list[tuple[int, FloatArray, BoolArray]]) -> RuleTrial:
    """Fire the rule over the training episodes and count alerted faults and false alerts."""
    alerted = faults = false = normal = 0
    for fault, score, truth in episodes:
        times = np.arange(len(score)) * ROW_S
        on = np.flatnonzero(truth)
        start = on[0] * ROW_S if len(on) else np.inf
        end = (on[-1] + 1) * ROW_S if len(on) else np.inf
        fired = firings(times, score, rule)
        during = [f for f in fired if start <= f.fired_s < end]
        false += len(fired) - len(during)
        normal += int(np.sum(~truth))
        if fault:
            faults += 1
            alerted += bool(during)
    return RuleTrial(rule, alerted, faults, false, normal * ROW_S / 86_400.0)


def choose_rule(
    training: TepTraining, settings: Settings = CHOSEN, interval_s: float = 15.0
) -> tuple[RuleTrial, list[RuleTrial]]:
    """Return the chosen alert timing and every candidate's figures on the training episodes."""
    episodes = list(training_runs(settings, training))
    trials = [
        rule_trial(RuleTiming(f, interval_s, h), episodes)
        for f, h in product(FOR_S, HOLD_S)
        if h <= f
    ]
    quiet = [t for t in trials if t.false_alerts_per_day <= MAX_FALSE_ALERTS_PER_DAY] or trials
    most = max(t.alerted for t in quiet)
    shortest = min(t.rule.for_s for t in quiet if t.alerted == most)
    same = [t for t in quiet if t.rule.for_s == shortest and t.alerted == most]
    fewest = min(t.false_alerts for t in same)
    best = max((t for t in same if t.false_alerts == fewest), key=lambda t: t.rule.hold_s)
    return best, trials
