"""Constant-time-per-sample sliding statistics used by the detectors."""

from __future__ import annotations

import bisect
from collections import deque


class SlidingMedian:
    """Median of the last ``size`` values, kept in a sorted list."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._order: deque[float] = deque()
        self._sorted: list[float] = []

    def __len__(self) -> int:
        return len(self._sorted)

    def add(self, value: float) -> None:
        """Add a value, dropping the oldest once the window is full."""
        self._order.append(value)
        bisect.insort(self._sorted, value)
        if len(self._order) > self._size:
            old = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, old)]

    def median(self) -> float:
        """Return the (upper) median; 0.0 while empty."""
        if not self._sorted:
            return 0.0
        return self._sorted[len(self._sorted) // 2]


class SlidingMax:
    """Maximum of the last ``size`` values (a monotonic deque)."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._count = 0
        self._queue: deque[tuple[int, float]] = deque()

    def __bool__(self) -> bool:
        return bool(self._queue)

    def add(self, value: float) -> None:
        """Add a value, forgetting those older than the window."""
        queue = self._queue
        while queue and queue[-1][1] <= value:
            queue.pop()
        queue.append((self._count, value))
        self._count += 1
        if queue[0][0] <= self._count - 1 - self._size:
            queue.popleft()

    def max(self) -> float:
        """Return the maximum in the window; 0.0 while empty."""
        return self._queue[0][1] if self._queue else 0.0


class SlidingMin:
    """Minimum of the last ``size`` values."""

    def __init__(self, size: int) -> None:
        self._negated = SlidingMax(size)

    def __bool__(self) -> bool:
        return bool(self._negated)

    def add(self, value: float) -> None:
        """Add a value, forgetting those older than the window."""
        self._negated.add(-value)

    def min(self) -> float:
        """Return the minimum in the window; 0.0 while empty."""
        return -self._negated.max() if self._negated else 0.0
