"""Export: queued requests to the metrics backend in order, the spool for what it does not take.

While the metrics backend refuses or hangs, new batches go straight to the on-disk spool, which
a task of its own replays in order with backoff, so the export path never waits on a replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sentio.collectors.encoding import RequestQueue
from sentio.collectors.spool import Spool, SpoolWriteError
from sentio.collectors.supervision import Supervisor

from sentio.otlp import ExportError, MetricsPusher
from sentio.redact import redact

T = TypeVar("T")
log = logging.getLogger("sentio.collector")


class Exporter:
    """Send the queue's requests; spool what the backend does not accept and replay it."""

    def __init__(
        self, queue: RequestQueue, spool: Spool, supervisor: Supervisor, flush_interval_s: float
    ) -> None:
        self.queue = queue
        self.spool = spool
        self.supervisor = supervisor
        self.flush_interval_s = flush_interval_s
        self.spool_thread = ThreadPoolExecutor(1, thread_name_prefix="sentio-spool")
        self.replay_wanted = asyncio.Event()
        self.backend_down = False
        self.sent = 0
        self.spooled = 0
        # requests the backend refused for good (4xx) and their readings: exported as
        # sentio.collector.export.refused_* (SentioReadingsRefused)
        self.refused = 0
        self.refused_readings = 0
        self.on_spooled: Callable[[], None] = lambda: None  # after each request spooled
        self.spool_failing = False

    def _backend(self, down: bool, detail: object = "") -> None:
        if down and not self.backend_down:
            log.error(
                "metrics backend not accepting, spooling readings to disk: %s", redact(str(detail))
            )
        elif not down and self.backend_down:
            log.info("metrics backend accepts readings again; replaying the spool")
        self.backend_down = down

    async def on_spool(self, call: Callable[..., T], *args: Any) -> T:
        """Run a spool operation on the spool's own thread: disk I/O stays off the loop."""
        return await asyncio.get_running_loop().run_in_executor(self.spool_thread, call, *args)

    async def _to_spool(self, body: bytes, readings: int) -> bool:
        """Spool a request; return False when it cannot be written and stays in the queue.

        A spool that cannot write (a full disk) must lose nothing silently: the request goes
        back to the front of the in-memory queue, which stops holding the polls back and drops
        its oldest beyond ``queue_limit``, counted, and one error names the folder and the free
        space.
        """
        try:
            await self.on_spool(self.spool.append, body, readings)
        except SpoolWriteError as exc:
            self.queue.put_back(body, readings)
            if not self.spool_failing:
                self.spool_failing = True
                self.queue.hold(False)  # waiting polls would only stop reading the devices
                free = "unknown" if exc.free_bytes is None else f"{exc.free_bytes} bytes"
                log.error(
                    "%s (%s free); keeping up to %d readings in memory, dropping the oldest "
                    "beyond that, until it can be written again", exc, free,
                    self.queue.queue_limit,
                )  # fmt: skip
            return False
        if self.spool_failing:
            self.spool_failing = False
            self.queue.hold(True)
            log.info("the spool %s can be written again", self.spool.path)
        self.spooled += readings
        self.replay_wanted.set()
        self.on_spooled()
        return True

    async def replay(self, pusher: MetricsPusher) -> None:
        """Send spooled requests oldest first, on a timer of its own with backoff on failure.

        The export path never waits for this: while the backend is down or the spool holds
        anything, new batches go straight to the spool behind what waits there.
        """
        backoff = self.supervisor.backoff()
        while not self.supervisor.stopping.is_set():
            body = await self.on_spool(self.spool.peek)
            if body is None:
                self.backend_down = False if not len(self.spool) else self.backend_down
                self.replay_wanted.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.replay_wanted.wait(), timeout=backoff.delay)
                continue
            refused: ExportError | None = None
            try:
                await pusher.push(body)
            except ExportError as exc:
                if exc.retryable:
                    self._backend(True, exc)
                    await self.supervisor.wait(backoff.next())
                    continue
                refused = exc
            readings = await self.on_spool(self.spool.ack)
            if refused is not None:
                self.refused += 1
                self.refused_readings += readings
                log.error("dropped a spooled request the backend refused: %s", refused)
            backoff.reset()
            self._backend(False)

    async def export(self, pusher: MetricsPusher) -> None:
        """Send queued requests in order; what the backend does not take goes to disk."""
        stopping = self.supervisor.stopping
        backoff = self.supervisor.backoff()
        while True:
            taken = self.queue.take()
            if taken is not None:
                body, count = taken
                if self.backend_down or len(self.spool):
                    # behind what waits already; when the disk refuses, try the backend again
                    # after a while: the queue holds what it can meanwhile
                    if not await self._to_spool(body, count):
                        if stopping.is_set():
                            return
                        await self.supervisor.wait(backoff.next())
                        self.backend_down = self.backend_down and bool(len(self.spool))
                    else:
                        backoff.reset()
                    continue
                try:
                    await pusher.push(body)
                    self.sent += count
                except ExportError as exc:
                    if exc.retryable:
                        self._backend(True, exc)
                        await self._to_spool(body, count)
                    else:
                        self.refused += 1
                        self.refused_readings += count
                        log.error("dropped %d readings the backend refused: %s", count, exc)
                continue
            if stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), timeout=self.flush_interval_s)
