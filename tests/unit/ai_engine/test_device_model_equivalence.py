"""The device model's fast paths agree with the straightforward computations they replace."""

from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.models.multivariate import (
    MAD_TO_SIGMA,
    RELATIVE_FLOOR,
    DeviceModel,
    _Basis,
    resolution,
    resolutions,
    sorted_median,
)


class SvdModel(DeviceModel):
    """The device model as it once was: np.median, a resolution a column, an SVD of every row."""

    def _basis(self, frame: np.ndarray, ordered: np.ndarray | None = None) -> _Basis:
        center = np.median(frame, axis=0)
        mad = MAD_TO_SIGMA * np.median(np.abs(frame - center), axis=0)
        given = np.zeros(frame.shape[1]) if self.resolutions is None else self.resolutions
        step = np.array([resolution(frame[:, j]) for j in range(frame.shape[1])])
        typical = np.where(np.abs(center) > 0, np.abs(center), 1.0)
        floor = np.where(step > 0, step, RELATIVE_FLOOR * typical)
        scale = np.maximum.reduce([mad, frame.std(axis=0), np.asarray(given, float), floor])
        scaled = (frame - center) / scale
        mean = scaled.mean(axis=0)
        _, singular, vt = np.linalg.svd(scaled - mean, full_matrices=False)
        eigen = singular**2 / max(len(frame) - 1, 1)
        total = float(eigen.sum())
        keep = 1 if total <= 0 else int(np.searchsorted(np.cumsum(eigen) / total, self.variance))
        keep = max(1, min(keep + 1, len(eigen)))
        eigen = np.maximum(eigen[:keep], 1e-6 * max(total, 1e-12))
        unit = np.where(step > 0, step, scale) / scale
        return _Basis(center, scale, mean, vt[:keep].T, eigen, unit)


def frames(seed: int) -> list[np.ndarray]:
    """Return devices like the bench's (a shared load curve), quantized and constant channels."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(300, 4000))
    t = np.arange(rows)
    load = np.sin(2 * np.pi * t / 1440 + rng.uniform(0, 6))
    base = rng.uniform(10, 100, 10)
    bench = base * (1 + 0.1 * load[:, None]) + rng.normal(0, 0.01, 10) * base * rng.standard_normal(
        (rows, 10)
    )
    pump = np.column_stack(
        [
            np.round((4 + 0.2 * load + rng.normal(0, 0.05, rows)) / 0.3) * 0.3,
            np.full(rows, 60.0),
            30 + 3 * load + rng.normal(0, 0.3, rows),
            rng.normal(1, 0.05, rows),
        ]
    )
    gappy = bench[:, :4].copy()
    gappy[rng.random(gappy.shape) < 0.05] = np.nan
    return [np.round(bench, 4), pump, gappy]


@pytest.mark.parametrize("seed", range(6))
def test_eigh_basis_scores_as_the_svd_one(seed: int) -> None:
    for frame in frames(seed):
        metrics = [f"m{j}" for j in range(frame.shape[1])]
        fast = DeviceModel(metrics).fit(frame)
        slow = SvdModel(metrics).fit(frame)
        assert fast.components.shape == slow.components.shape
        projector = fast.components @ fast.components.T
        np.testing.assert_allclose(projector, slow.components @ slow.components.T, atol=1e-9)
        for name in ("center", "scale", "mean", "stuck_limits", "channel_overall"):
            np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name))
        for name in ("eigenvalues", "overall_limits", "channel_limits", "residual_weights"):
            np.testing.assert_allclose(getattr(fast, name), getattr(slow, name), rtol=1e-8)
        test = frames(seed + 100)[0][:, : frame.shape[1]] if frame.shape[1] == 10 else frame
        np.testing.assert_allclose(fast.score(test)[0], slow.score(test)[0], rtol=1e-7, atol=1e-12)


def test_resolutions_of_all_columns_match_one_at_a_time() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        frame = np.round(rng.normal(0, 3, (int(rng.integers(0, 50)), 4)), int(rng.integers(0, 3)))
        frame[rng.random(frame.shape) < 0.2] = np.nan
        frame[rng.random(frame.shape) < 0.05] = np.inf
        if rng.random() < 0.2:
            frame[:, 1] = 5.0
        one = [resolution(frame[:, j]) for j in range(4)]
        np.testing.assert_array_equal(resolutions(frame), one)


def test_the_median_of_sorted_columns_is_numpys() -> None:
    rng = np.random.default_rng(1)
    for rows in (1, 2, 3, 10, 11, 1000, 1001):
        frame = np.round(rng.normal(0, 3, (rows, 5)), 2)
        ordered = np.sort(frame.T, axis=1)
        np.testing.assert_array_equal(sorted_median(ordered), np.median(frame, axis=0))


def test_explanations_are_each_rows_rounded_shares() -> None:
    frame = frames(2)[1]
    model = DeviceModel(["a", "b", "c", "d"]).fit(frame)
    _, blame = model.parts(frame[:300])
    totals = blame.sum(axis=1, keepdims=True)
    shares = np.divide(blame, totals, out=np.zeros_like(blame), where=totals > 0)
    want = [dict(zip("abcd", (round(float(v), 3) for v in row), strict=True)) for row in shares]
    _, explanation = model.score(frame[:300])
    assert len(explanation) == 300
    assert list(explanation) == want
    assert explanation[-1] == want[-1] and explanation[np.int64(7)] == want[7]
    assert explanation[10:20:3] == want[10:20:3]
    with pytest.raises(IndexError):
        explanation[300]


@pytest.mark.parametrize("rows", [301, 302])
def test_a_fitted_model_holds_no_view_of_its_history(rows: int) -> None:
    model = DeviceModel(["a", "b", "c", "d"]).fit(frames(4)[1][:rows])
    for name, values in model.to_arrays().items():
        assert values.base is None or values.base.nbytes <= values.nbytes, name
