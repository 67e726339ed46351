"""Per-row and per-episode scoring of alarms against the rows where a fault was on."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.ai_engine.tep.data import FloatArray

BoolArray = npt.NDArray[np.bool_]


def device_score(model: DeviceModel, frame: FloatArray) -> FloatArray:
    """Return the device score per row (the largest statistic over its limit)."""
    parts, _ = model.parts(frame)
    return np.asarray(np.max(np.vstack(list(parts.values())), axis=0), dtype=np.float64)


@dataclass
class RowCounts:
    """Alarmed and quiet rows, counted against the truth (a fault on or off)."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0

    def add(self, alarm: BoolArray, truth: BoolArray) -> None:
        """Count one run's rows."""
        self.true_positive += int(np.sum(alarm & truth))
        self.false_positive += int(np.sum(alarm & ~truth))
        self.false_negative += int(np.sum(~alarm & truth))
        self.true_negative += int(np.sum(~alarm & ~truth))

    @property
    def false_alarm_rate(self) -> float:
        """Return the share of normal rows alarmed."""
        return self.false_positive / max(self.false_positive + self.true_negative, 1)

    @property
    def missed_alarm_rate(self) -> float:
        """Return the share of fault rows not alarmed."""
        return self.false_negative / max(self.false_negative + self.true_positive, 1)

    @property
    def f1(self) -> float:
        """Return F1 of the alarmed rows against the fault rows."""
        tp = self.true_positive
        return 2 * tp / max(2 * tp + self.false_positive + self.false_negative, 1)

    def as_json(self) -> dict[str, float]:
        """Return F1, the false-alarm and the missed-alarm rates."""
        return {
            "f1": round(self.f1, 4),
            "false_alarm_rate": round(self.false_alarm_rate, 4),
            "missed_alarm_rate": round(self.missed_alarm_rate, 4),
        }
