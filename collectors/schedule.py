"""Absolute poll schedules: a device's polls fall on fixed ticks, a tick missed is skipped.

A device polled every ``interval_s`` is due at ``start + phase + k * interval_s``; a slow poll
never pushes the ticks after it. A poll still running at its next tick misses that tick: the
schedule moves to the first tick still ahead and counts the ones it skipped. The phase spreads
the devices of a collector over the first interval (at most ``SPREAD_S``), so a fleet's polls
do not all fall due at the same instant.
"""

from __future__ import annotations

import math
import zlib

SPREAD_S = 1.0


def phase(key: str, interval_s: float) -> float:
    """Return a stable offset in [0, min(interval_s, SPREAD_S)) for the schedule named ``key``."""
    return zlib.crc32(key.encode()) / 2**32 * min(interval_s, SPREAD_S)


class Schedule:
    """The ticks of one device's polls, and how many of them it missed."""

    __slots__ = ("interval_s", "missed", "next_at")

    def __init__(self, interval_s: float, start: float) -> None:
        self.interval_s = interval_s
        self.next_at = start
        self.missed = 0

    def advance(self, now: float) -> int:
        """Move to the first tick after ``now``; return how many ticks it skipped."""
        interval = self.interval_s
        due = self.next_at + interval
        skipped = 0
        if due <= now:
            skipped = math.floor((now - due) / interval) + 1
            due += skipped * interval
            while due <= now:  # rounding at an exact multiple
                skipped, due = skipped + 1, due + interval
        self.next_at = due
        self.missed += skipped
        return skipped

    def restart(self, at: float) -> None:
        """Put the next tick at ``at`` (after a backoff) and count the ticks from there."""
        self.next_at = at
