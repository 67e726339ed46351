"""The vectorised seasonal fit gives exactly what a median per bucket in a loop gives."""

from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.models.seasonal import MAD_TO_SIGMA, SeasonalBaseline, bucket_median_mad


def reference_fit(
    model: SeasonalBaseline, ts: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return (median, sigma) per bucket the straightforward way: one np.median per bucket."""
    buckets = model.period_s // model.bucket_s
    ok = np.isfinite(values)
    idx, y = model.bucket(ts[ok]), values[ok]
    median = np.full(buckets, np.nan)
    sigma = np.full(buckets, np.nan)
    for b in range(buckets):
        sample = y[idx == b]
        if len(sample) >= model.min_samples:
            median[b] = np.median(sample)
            sigma[b] = MAD_TO_SIGMA * np.median(np.abs(sample - median[b]))
    if np.isfinite(sigma).any():
        floor = max(float(np.nanmedian(sigma)) * 0.1, 1e-9)
        sigma = np.where(np.isfinite(sigma), np.maximum(sigma, floor), np.nan)
    return median, sigma


def random_history(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return irregular timestamps and values with NaNs, infinities, ties and sparse buckets."""
    n = int(rng.integers(0, 3000))
    span = int(rng.choice([3_600, 86_400, 3 * 86_400, 8 * 86_400]))
    ts = np.sort(rng.integers(0, span, n)) + int(rng.integers(0, 10**9))
    kind = rng.integers(0, 3)
    if kind == 0:
        values = rng.normal(50, 5, n)
    elif kind == 1:
        values = np.round(rng.normal(0, 2, n))  # quantized: many ties, flat buckets
    else:
        values = rng.standard_cauchy(n) * 1e3
    holes = rng.random(n) < rng.uniform(0, 0.5)
    values[holes] = np.nan
    values[rng.random(n) < 0.01] = np.inf
    return ts, values


@pytest.mark.parametrize("seed", range(40))
def test_vectorised_fit_matches_a_median_per_bucket(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(10):
        ts, values = random_history(rng)
        model = SeasonalBaseline(
            bucket_s=int(rng.choice([60, 900, 3600])),
            weekly=bool(rng.integers(0, 2)),
            min_samples=int(rng.integers(1, 5)),
        )
        median, sigma = reference_fit(model, ts, values)
        model.fit(ts, values)
        np.testing.assert_array_equal(model.median, median)
        np.testing.assert_array_equal(model.sigma, sigma)


def test_single_sample_buckets_get_the_floor_and_empty_ones_stay_unknown() -> None:
    ts = np.array([0, 900, 900, 900, 1800], dtype=np.int64)  # buckets 0, 1 (x3), 2
    values = np.array([5.0, 1.0, 2.0, 4.0, 7.0])
    model = SeasonalBaseline(bucket_s=900, min_samples=1).fit(ts, values)
    assert model.median[:3].tolist() == [5.0, 2.0, 7.0]
    assert model.sigma[1] == pytest.approx(MAD_TO_SIGMA)  # MAD of 1, 2, 4 is 1
    # A single sample has MAD 0; the sigmas' median (0, 1.48, 0) is 0, so the floor is 1e-9.
    assert model.sigma[0] == model.sigma[2] == 1e-9
    assert np.isnan(model.median[3:]).all() and np.isnan(model.sigma[3:]).all()


def test_bucket_median_mad_of_even_and_odd_counts() -> None:
    idx = np.array([2, 0, 2, 0, 0, 2, 2], dtype=np.int64)
    y = np.array([4.0, 3.0, 1.0, 1.0, 2.0, 3.0, 2.0])
    median, mad, count = bucket_median_mad(idx, y, 4)
    assert count.tolist() == [3, 0, 4, 0]
    assert median[0] == 2.0 and median[2] == 2.5
    assert mad[0] == 1.0 and mad[2] == 1.0  # |1,2,3 - 2| and |1,2,3,4 - 2.5|
    assert np.isnan(median[[1, 3]]).all() and np.isnan(mad[[1, 3]]).all()


@pytest.mark.parametrize("seed", range(10))
def test_crowded_buckets_match_the_per_bucket_median(seed: int) -> None:
    rng = np.random.default_rng(seed)
    buckets = 672
    idx = np.where(rng.random(5000) < 0.9, 3, rng.integers(0, buckets, 5000))  # one bucket full
    y = np.round(rng.normal(0, 3, len(idx)), 1)
    median, mad, count = bucket_median_mad(idx, y, buckets)
    for b in range(buckets):
        sample = y[idx == b]
        assert count[b] == len(sample)
        if len(sample):
            assert median[b] == np.median(sample)
            assert mad[b] == np.median(np.abs(sample - np.median(sample)))
        else:
            assert np.isnan(median[b]) and np.isnan(mad[b])
