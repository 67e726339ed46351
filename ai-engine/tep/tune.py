"""Choose the device model's settings for TEP from the training files alone.

The test files (``*_te.dat``) are never read here. ``d00.dat`` is cut into blocks; for each
block a model is fitted on the other blocks, and each detectable fault's training file
(``dNN.dat``, every row after the fault started) is scored as a fault that ends: its first
``FAULT_ROWS`` rows, then the held-out normal block, as if the plant had come back. Each
candidate is scored per row at its own alarm level (score above 1): the false-alarm rate over
the normal rows (the blocks alone and after each fault) and F1. The winner has the best F1 among
the candidates whose false-alarm rate is at most ``MAX_FAR``; ties go to the engine's defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product

import numpy as np
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.ai_engine.tep.data import FAULTS, NAMES, UNDETECTABLE, FloatArray, TepTraining
from sentio.ai_engine.tep.scoring import RowCounts, device_score

OUTER_FOLDS = 5
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


@dataclass(frozen=True)
class Trial:
    """A candidate's per-row figures on the training episodes."""

    settings: Settings
    counts: RowCounts

    def as_json(self) -> dict[str, float]:
        """Return the candidate's settings and figures."""
        return {**self.settings.as_json(), **self.counts.as_json()}


def trial(settings: Settings, training: TepTraining) -> Trial:
    """Score one candidate on the training episodes."""
    counts = RowCounts()
    rows = len(training.normal)
    for held in np.array_split(np.arange(rows), OUTER_FOLDS):
        rest = np.ones(rows, dtype=np.bool_)
        rest[held] = False
        model = settings.model().fit(training.normal[rest])
        block = training.normal[held]
        counts.add(device_score(model, block) > 1.0, np.zeros(len(block), dtype=np.bool_))
        for k in FAULTS:
            if k in UNDETECTABLE:
                continue
            frame: FloatArray = np.vstack([training.faults[k][:FAULT_ROWS], block])
            truth = np.arange(len(frame)) < FAULT_ROWS
            counts.add(device_score(model, frame) > 1.0, truth)
    return Trial(settings, counts)


def choose(training: TepTraining) -> tuple[Trial, list[Trial]]:
    """Return the winning candidate and every candidate's trial."""
    trials = [trial(Settings(s, c, m), training) for s, c, m in product(SMOOTHING, CLIP, MARGIN)]
    allowed = [t for t in trials if t.counts.false_alarm_rate <= MAX_FAR] or trials
    default = Settings()
    best = max(allowed, key=lambda t: (round(t.counts.f1, 3), t.settings == default))
    return best, trials
