"""The contract every streaming detector meets."""

from __future__ import annotations

from typing import Protocol


class StreamingDetector(Protocol):
    """Score each new sample from the samples seen so far, never from later ones."""

    def update(self, timestamp: float, value: float) -> float:
        """Take the next sample (unix seconds, value) and return its anomaly score in [0, 1]."""
        ...
