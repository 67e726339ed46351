"""RobustStream.run gives exactly what stepping through the columns one by one gives."""

from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.models.robust import RobustStream


def stepped(
    model: RobustStream, matrix: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return run's four matrices the straightforward way: one ``step`` a column."""
    out = [np.full(matrix.shape, np.nan) for _ in range(4)]
    for j in range(matrix.shape[1]):
        for target, column in zip(out, model.step(matrix[:, j]), strict=True):
            target[:, j] = column
    return out[0], out[1], out[2], out[3]


def history(rng: np.random.Generator) -> np.ndarray:
    """Return series with gaps, whole missing columns, spikes, flat runs and infinities."""
    series, steps = int(rng.integers(0, 30)), int(rng.integers(0, 120))
    values = rng.normal(50, 5, (series, steps)) * rng.uniform(0.1, 10, (series, 1))
    values[rng.random(values.shape) < rng.uniform(0, 0.4)] = np.nan
    if steps:
        values[:, rng.integers(0, steps)] = np.nan
    values[rng.random(values.shape) < 0.02] *= 30
    values[rng.random(values.shape) < 0.01] = np.inf
    if series > 1:
        values[1] = 7.0  # flat
    return values


def start(rng: np.random.Generator, series: int) -> RobustStream:
    """Return a fresh model, one fitted on some history, or one grown by a few series."""
    kind = rng.integers(0, 3)
    model = RobustStream(warmup=int(rng.integers(1, 30)))
    if kind == 1:
        model.fit(rng.normal(50, 5, (series, int(rng.integers(1, 40)))))
    elif kind == 2:
        model.fit(rng.normal(50, 5, (max(series - 3, 0), 25)))
    return model


@pytest.mark.parametrize("seed", range(30))
def test_run_matches_stepping_column_by_column(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(5):
        values = history(rng)
        model = start(rng, len(values))
        twin = RobustStream(model.alpha, model.k, model.warmup, model.center.copy(),
                            model.scale.copy(), model.count.copy())  # fmt: skip
        with np.errstate(invalid="ignore"):
            want = stepped(twin, values)
            got = model.run(values)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(model.center, twin.center)
        np.testing.assert_array_equal(model.scale, twin.scale)
        np.testing.assert_array_equal(model.count, twin.count)
