"""The literature's baselines: PCA and dynamic PCA with Hotelling's T² and Q at 99% limits.

The limits come from rows each PCA was not fitted on: the training rows are cut into blocks, each
block is scored by a PCA fitted on the others, and each limit is the 99th percentile of those
out-of-fold values (in-sample limits are too tight, the more so the fewer the rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sentio.ai_engine.tep.data import FloatArray

VARIANCE = 0.9
LIMIT_QUANTILE = 0.99
DPCA_LAGS = 2
FOLDS = 5


def lagged(frame: FloatArray, lags: int) -> FloatArray:
    """Return rows ``[x_t, x_(t-1), ..., x_(t-lags)]``, the first rows repeating the first row."""
    padded = np.vstack([np.repeat(frame[:1], lags, axis=0), frame])
    return np.hstack([padded[lags - k : len(padded) - k] for k in range(lags + 1)])


@dataclass
class Pca:
    """PCA on standardised (optionally lagged) rows; T² and Q over their 99% training limits."""

    lags: int = 0
    variance: float = VARIANCE
    folds: int = FOLDS
    mean: FloatArray | None = None
    std: FloatArray | None = None
    components: FloatArray | None = None
    eigenvalues: FloatArray | None = None
    limits: tuple[float, float] = (1.0, 1.0)

    def _stats(self, frame: FloatArray) -> tuple[FloatArray, FloatArray]:
        assert self.mean is not None and self.std is not None
        assert self.components is not None and self.eigenvalues is not None
        x = lagged(frame, self.lags) if self.lags else frame
        z = (x - self.mean) / self.std
        t = z @ self.components
        t2 = np.sum(t**2 / self.eigenvalues, axis=1)
        q = np.sum((z - t @ self.components.T) ** 2, axis=1)
        return t2, q

    def _learn(self, frame: FloatArray) -> None:
        x = lagged(frame, self.lags) if self.lags else frame
        self.mean = x.mean(axis=0)
        self.std = np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        z = (x - self.mean) / self.std
        _, singular, vt = np.linalg.svd(z, full_matrices=False)
        eigen = singular**2 / (len(z) - 1)
        keep = int(np.searchsorted(np.cumsum(eigen) / eigen.sum(), self.variance)) + 1
        self.components, self.eigenvalues = vt[:keep].T, eigen[:keep]

    def fit(self, frame: FloatArray) -> Pca:
        """Learn from normal rows; set each limit at the 99th percentile of out-of-fold values."""
        t2s, qs = [], []
        for held in np.array_split(np.arange(len(frame)), self.folds):
            rest = np.ones(len(frame), dtype=np.bool_)
            rest[held] = False
            self._learn(frame[rest])
            t2, q = self._stats(frame[held])
            t2s.append(t2)
            qs.append(q)
        self._learn(frame)
        self.limits = (
            float(np.quantile(np.concatenate(t2s), LIMIT_QUANTILE)),
            float(np.quantile(np.concatenate(qs), LIMIT_QUANTILE)),
        )
        return self

    def score(self, frame: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Return T² and Q per row, each over its limit (above 1 = alarm)."""
        t2, q = self._stats(frame)
        return t2 / self.limits[0], q / self.limits[1]
