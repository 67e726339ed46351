"""Per-device multivariate anomalies: Isolation Forest over metrics and rolling features.

Each anomaly is explained: how far each metric's features sit from their usual range, so a
person sees which metrics drove it and by how much.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from sklearn.ensemble import IsolationForest

FloatArray = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826
FEATURES = ("value", "delta", "rolling_std")


def features(frame: FloatArray, window: int) -> FloatArray:
    """Return per-row features (value, change from the rolling mean, rolling std) per metric.

    ``frame`` is rows by metrics; each feature uses only rows up to and including its own row.
    Missing values are carried forward so that a gap does not look like an anomaly.
    """
    rows, metrics = frame.shape
    filled = frame.copy()
    for j in range(metrics):
        column = filled[:, j]
        mask = np.isfinite(column)
        if not mask.any():
            column[:] = 0.0
            continue
        index = np.where(mask, np.arange(rows), 0)
        np.maximum.accumulate(index, out=index)
        column[:] = column[index]
        column[: int(np.argmax(mask))] = column[int(np.argmax(mask))]
    out = np.empty((rows, metrics * len(FEATURES)))
    csum = np.cumsum(np.vstack([np.zeros(metrics), filled]), axis=0)
    csq = np.cumsum(np.vstack([np.zeros(metrics), filled**2]), axis=0)
    lo = np.maximum(np.arange(rows) - window + 1, 0)
    count = (np.arange(rows) - lo + 1)[:, None]
    mean = (csum[1:] - csum[lo]) / count
    var = np.maximum((csq[1:] - csq[lo]) / count - mean**2, 0.0)
    out[:, 0::3] = filled
    out[:, 1::3] = filled - mean
    out[:, 2::3] = np.sqrt(var)
    return out


@dataclass
class DeviceModel:
    """Isolation Forest on one device's metrics; scores above 1 are anomalous.

    Isolation Forest scores saturate for far outliers, so the score is the larger of the
    forest's score (relative to its ``contamination`` cutoff on the history) and the largest
    robust z-score of any feature over ``z_limit``.
    """

    metrics: Sequence[str]
    window: int = 10
    contamination: float = 0.005
    z_limit: float = 8.0
    trees: int = 100
    seed: int = 0
    forest: IsolationForest | None = None
    cutoff: float = 0.0
    center: FloatArray = field(default_factory=lambda: np.zeros(0))
    spread: FloatArray = field(default_factory=lambda: np.zeros(0))

    def fit(self, frame: FloatArray) -> DeviceModel:
        """Learn the device's normal behaviour from history (rows by metrics)."""
        x = features(frame, self.window)
        self.forest = IsolationForest(
            n_estimators=self.trees, contamination="auto", random_state=self.seed
        ).fit(x)
        raw = -self.forest.score_samples(x)
        self.cutoff = float(np.quantile(raw, 1.0 - self.contamination))
        self.center = np.median(x, axis=0)
        mad = MAD_TO_SIGMA * np.median(np.abs(x - self.center), axis=0)
        self.spread = np.maximum(mad, 1e-9 + 1e-6 * np.abs(self.center))
        return self

    def score(self, frame: FloatArray) -> tuple[FloatArray, list[dict[str, float]]]:
        """Return a score per row (above 1 = anomalous) and each row's metric contributions."""
        if self.forest is None:
            raise ValueError("DeviceModel.score called before fit")
        x = features(frame, self.window)
        z = np.abs(x - self.center) / self.spread
        score = np.maximum(
            -self.forest.score_samples(x) / self.cutoff, z.max(axis=1) / self.z_limit
        )
        per_metric = z.reshape(len(x), len(self.metrics), len(FEATURES)).max(axis=2)
        totals = per_metric.sum(axis=1, keepdims=True)
        shares = np.divide(per_metric, totals, out=np.zeros_like(per_metric), where=totals > 0)
        explanations = [
            dict(zip(self.metrics, (round(float(v), 3) for v in row), strict=True))
            for row in shares
        ]
        return score, explanations
