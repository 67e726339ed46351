"""Envelope detector: flag a sample whose deviation exceeds every deviation seen recently.

Each sample yields a few deviation features: how far it sits above and below the running
median, how far it sits from recent samples taken at the same time of day, how novel the recent
shape is, and how much the short-term spread has grown or shrunk (a stuck sensor). Each feature
is divided by its own envelope, the largest value that feature took over a long trailing window,
so the detector calibrates itself to each series' noise. When the largest weighted ratio passes
``trigger`` the sample is an event and its score grows with the ratio. Nothing here suppresses
repeated events: NAB rewards only an anomaly's first detection, so the NAB runner adds its own
hold-off and quiet-time weighting (``hold_rows``, ``quiet_rows``, ``quiet_weight``) on top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sentio.ai_engine.models.shapes import ShapeMemory
from sentio.ai_engine.models.timeofday import TimeOfDayMedian
from sentio.ai_engine.models.windows import SlidingMax, SlidingMedian, SlidingMin

MAX_RATIO = 10.0
MIN_MEDIAN_SAMPLES = 10


@dataclass(frozen=True)
class EnvelopeConfig:
    """Settings of the envelope detector; the defaults are the ones tuned on NAB."""

    median_window: int = 100
    envelope_window: int = 4000
    warmup_rows: int = 50
    learning_rows: int = 150
    shape_length: int = 128
    shape_buckets: int = 4
    shape_memory: int = 3000
    spread_window: int = 30
    day_slots: int = 96
    day_depth: int = 7
    shape_weight: float = 1.1
    time_of_day_weight: float = 0.8
    spread_up_weight: float = 0.8
    stuck_weight: float = 0.5
    trigger: float = 1.05
    # Used by the NAB runner only (NAB rewards an anomaly's first detection, not the rows after).
    hold_rows: int = 20
    quiet_rows: int = 1000
    quiet_weight: float = 0.6


def envelope_ratio(value: float, envelope: float) -> float:
    """Return ``value / envelope``, capped at MAX_RATIO when the envelope is still zero."""
    if envelope > 0.0:
        return value / envelope
    return MAX_RATIO if value > 0.0 else 0.0


class EnvelopeDetector:
    """Streaming detector scoring each sample against envelopes of its past deviations."""

    def __init__(self, config: EnvelopeConfig | None = None) -> None:
        self.config = cfg = config or EnvelopeConfig()
        self._row = 0
        self._median = SlidingMedian(cfg.median_window)
        self._shapes = ShapeMemory(cfg.shape_length, cfg.shape_buckets, cfg.shape_memory)
        self._day = TimeOfDayMedian(cfg.day_slots, cfg.day_depth)
        self._recent_max = SlidingMax(cfg.spread_window)
        self._recent_min = SlidingMin(cfg.spread_window)
        self._up = SlidingMax(cfg.envelope_window)
        self._down = SlidingMax(cfg.envelope_window)
        self._shape = SlidingMax(cfg.envelope_window)
        self._time_of_day = SlidingMax(cfg.envelope_window)
        self._spread = SlidingMax(cfg.envelope_window)
        self._calmest = SlidingMin(cfg.envelope_window)

    def update(self, timestamp: float, value: float) -> float:
        """Take the next sample and return its anomaly score in [0, 1); skip non-finite ones."""
        ratio = self.ratio(timestamp, value)
        return ratio / (1.0 + ratio) if ratio >= self.config.trigger else 0.0

    def ratio(self, timestamp: float, value: float) -> float:
        """Take the next sample and return its strongest deviation ratio; 0 while learning."""
        if not (math.isfinite(value) and math.isfinite(timestamp)):
            return 0.0
        ratio = self._strongest_ratio(float(timestamp), float(value))
        row = self._row
        self._row += 1
        return 0.0 if row < self.config.learning_rows else ratio

    def _strongest_ratio(self, timestamp: float, value: float) -> float:
        cfg = self.config
        row = self._row
        learn = row >= cfg.warmup_rows
        shape = self._ratio(self._shape, self._shapes.update(value), learn)
        ratios = [cfg.shape_weight * shape]
        if len(self._median) >= MIN_MEDIAN_SAMPLES:
            median = self._median.median()
            ratios.append(self._ratio(self._up, max(value - median, 0.0), learn))
            ratios.append(self._ratio(self._down, max(median - value, 0.0), learn))
        self._median.add(value)
        day_gap = self._day.deviation(timestamp, value)
        if day_gap is not None:
            day_ratio = self._ratio(self._time_of_day, day_gap, learn)
            ratios.append(cfg.time_of_day_weight * day_ratio)
        self._recent_max.add(value)
        self._recent_min.add(value)
        if row >= cfg.spread_window:
            spread = self._recent_max.max() - self._recent_min.min()
            grown = self._ratio(self._spread, spread, learn)
            ratios.append(cfg.spread_up_weight * grown)
            ratios.append(cfg.stuck_weight * self._stuck_ratio(spread, row))
        return max(ratios)

    def _ratio(self, envelope: SlidingMax, feature: float, learn: bool) -> float:
        ratio = envelope_ratio(feature, envelope.max())
        if learn:
            envelope.add(feature)
        return ratio

    def _stuck_ratio(self, spread: float, row: int) -> float:
        """Return how far the spread fell below its smallest recent value (inverse ratio)."""
        calmest = self._calmest.min() if self._calmest else 0.0
        self._calmest.add(spread)
        if calmest <= 0.0 or row < self.config.warmup_rows + self.config.spread_window:
            return 0.0
        return calmest / spread if spread > 0.0 else MAX_RATIO
