"""Time-of-day baseline: the median of recent samples taken at the same time of day."""

from __future__ import annotations

from collections import deque

DAY_SECONDS = 86400.0
MIN_SAMPLES = 3


class TimeOfDayMedian:
    """Keep the last ``depth`` samples of each of ``slots`` equal slices of the day."""

    def __init__(self, slots: int, depth: int) -> None:
        self._slot_seconds = DAY_SECONDS / slots
        self._depth = depth
        self._slots: dict[int, deque[float]] = {}

    def deviation(self, timestamp: float, value: float) -> float | None:
        """Return ``|value - median|`` of the sample's slot, then remember the sample.

        Returns None until the slot holds MIN_SAMPLES samples.
        """
        slot = int((timestamp % DAY_SECONDS) // self._slot_seconds)
        history = self._slots.setdefault(slot, deque(maxlen=self._depth))
        out = None
        if len(history) >= MIN_SAMPLES:
            ordered = sorted(history)
            out = abs(value - ordered[len(ordered) // 2])
        history.append(value)
        return out
