"""Supervision: named tasks restarted with backoff when they die, and a stop every wait obeys."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sentio.collectors.backoff import Backoff

log = logging.getLogger("sentio.collector")


class Supervisor:
    """Start tasks that restart after an unexpected error until ``stopping`` is set."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.stopping = asyncio.Event()
        self.restarts = 0

    def backoff(self) -> Backoff:
        """Return a fresh backoff with the collector's bounds."""
        return Backoff(self.initial_s, self.max_s)

    async def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the collector stops."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def keep_running(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run ``body`` until it returns; restart it with backoff when it dies unexpectedly."""
        backoff = self.backoff()
        while True:
            try:
                await body()
                return
            except Exception:
                self.restarts += 1
                log.exception("%s died of an unexpected error; restarting it", name)
            if self.stopping.is_set():
                return
            await self.wait(backoff.next())

    def task(self, name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Start ``body`` as a supervised task named ``name``."""
        return asyncio.create_task(self.keep_running(name, body), name=name)
