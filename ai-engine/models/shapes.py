"""Novelty of the recent shape of a series: distance to its nearest neighbour in the past."""

from __future__ import annotations

import math
from collections import deque

import numpy as np

MIN_NEIGHBOURS = 10


class ShapeMemory:
    """Compare the last ``length`` samples, averaged into ``buckets``, with earlier shapes.

    A shape becomes searchable only once it no longer overlaps the current one, so a series
    never matches itself; at most ``capacity`` past shapes are kept, oldest overwritten first.
    """

    def __init__(self, length: int, buckets: int, capacity: int) -> None:
        if length % buckets:
            raise ValueError(f"shape length {length} is not a multiple of {buckets} buckets")
        self._length = length
        self._buckets = buckets
        self._width = length // buckets
        self._recent: deque[float] = deque(maxlen=length)
        self._past = np.zeros((capacity, buckets))
        self._stored = 0
        self._pending: deque[np.ndarray] = deque()

    def update(self, value: float) -> float:
        """Add a sample and return the current shape's distance to its nearest past shape."""
        self._recent.append(value)
        if len(self._recent) < self._length:
            return 0.0
        samples = np.fromiter(self._recent, dtype=np.float64, count=self._length)
        shape = samples.reshape(self._buckets, self._width).mean(axis=1)
        distance = 0.0
        usable = min(self._stored, len(self._past))
        if usable >= MIN_NEIGHBOURS:
            delta = self._past[:usable] - shape
            distance = math.sqrt(float(np.min(np.einsum("ij,ij->i", delta, delta))))
        self._pending.append(shape)
        if len(self._pending) > self._length:
            self._past[self._stored % len(self._past)] = self._pending.popleft()
            self._stored += 1
        return distance
