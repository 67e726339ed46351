"""NAB v1.0's published scoreboard (standard, low-FP, low-FN)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    """One detector's published scores."""

    detector: str
    standard: float
    low_fp: float
    low_fn: float


PUBLISHED = (
    Entry("ARTime", 74.9, 65.1, 80.4),
    Entry("Numenta HTM", 70.5, 62.6, 75.2),
    Entry("CAD OSE", 69.9, 67.0, 73.2),
    Entry("earthgecko Skyline", 58.2, 46.2, 63.9),
    Entry("KNN CAD", 58.0, 43.4, 64.8),
    Entry("Relative Entropy", 54.6, 47.6, 58.8),
    Entry("Random Cut Forest", 51.7, 38.4, 59.7),
    Entry("Twitter ADVec", 47.1, 33.6, 53.5),
    Entry("Windowed Gaussian", 39.6, 20.9, 47.4),
    Entry("Etsy Skyline", 35.7, 27.1, 44.5),
    Entry("Bayesian Changepoint", 17.7, 3.2, 32.2),
    Entry("Random", 11.0, 1.2, 19.5),
    Entry("Null", 0.0, 0.0, 0.0),
)
BEST_PUBLISHED = max(PUBLISHED, key=lambda e: e.standard)
NUMENTA_HTM = PUBLISHED[1]
RANDOM_CUT_FOREST = PUBLISHED[6]


def ranked(ours: Entry) -> list[Entry]:
    """Return the published entries and ``ours``, best standard score first."""
    return sorted((*PUBLISHED, ours), key=lambda e: -e.standard)
