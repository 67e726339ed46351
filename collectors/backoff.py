"""The one backoff the collector uses: exponential with jitter, from the config's bounds."""

from __future__ import annotations

import random


class Backoff:
    """Double a delay after each failure up to a bound; jitter each wait to half of it."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.delay = initial_s

    def reset(self) -> None:
        """Start again from the initial delay after a success."""
        self.delay = self.initial_s

    def next(self) -> float:
        """Return how long to wait after this failure; the next one waits up to twice as long."""
        wait = self.delay * random.uniform(0.5, 1.0)
        self.delay = min(self.delay * 2, self.max_s)
        return wait
