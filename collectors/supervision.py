"""Supervision: named tasks restarted with backoff when they die, and a stop every wait obeys."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from sentio.collectors.backoff import Backoff

log = logging.getLogger("sentio.collector")


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class Stop(asyncio.Event):
    """An event that also ends every sleep of ``sleep_until`` when set."""

    def __init__(self) -> None:
        super().__init__()
        self.sleepers: set[asyncio.Future[None]] = set()

    def set(self) -> None:
        """Set the event and wake every sleeper."""
        super().set()
        for future in self.sleepers:
            _wake(future)


class Supervisor:
    """Start tasks that restart after an unexpected error until ``stopping`` is set."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self.stopping = Stop()
        self.restarts = 0

    def backoff(self) -> Backoff:
        """Return a fresh backoff with the collector's bounds."""
        return Backoff(self.initial_s, self.max_s)

    async def sleep_until(self, when: float) -> None:
        """Sleep until the loop's clock reads ``when``, or less when the collector stops.

        One timer handle and one future: far cheaper than ``asyncio.wait_for`` on the event,
        which starts a task per wait, when thousands of devices each wait every second.
        """
        stopping = self.stopping
        if stopping.is_set():
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        handle = loop.call_at(when, _wake, future)
        stopping.sleepers.add(future)
        try:
            await future
        finally:
            handle.cancel()
            stopping.sleepers.discard(future)

    async def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the collector stops."""
        await self.sleep_until(asyncio.get_running_loop().time() + seconds)

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
