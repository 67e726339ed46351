"""Readings into OTLP request bodies: encoded as accepted, sealed per batch, bounded in count.

Past half of ``queue_limit`` the queue asks the polls to wait (``room`` is cleared) until the
export has drained it to a quarter, so an export that falls behind shows as late polls, not
as readings dropped. The oldest requests still drop past the limit while the spool cannot be
written (backpressure off), or if polls already running at the mark add more than the rest.
"""

from __future__ import annotations

import asyncio
import collections
import struct
from collections.abc import Callable

from sentio.collectors import report
from sentio.collectors.instance import Instance
from sentio.connectors.contract import Reading, ReadingBatch

from sentio.otlp import GaugeEncoder


class RequestQueue:
    """Encoded readings waiting for export; the oldest requests drop beyond ``queue_limit``."""

    def __init__(
        self, resource: dict[str, str], batch_size: int, queue_limit: int,
        on_drop: Callable[[int], None],
    ) -> None:  # fmt: skip
        self.encoder = GaugeEncoder(resource, "sentio.collector")
        self.requests: collections.deque[tuple[bytes, int]] = collections.deque()
        self.batch_size = batch_size
        self.queue_limit = queue_limit
        self.on_drop = on_drop
        self.queued = 0  # readings accepted and not yet handed to the backend or the spool
        self.accepted = 0
        self.dropped = 0
        self.dropped_requests = 0
        self.accepted_by_device: collections.Counter[str] = collections.Counter()
        self.high_water = max(1, queue_limit // 2)
        self.low_water = queue_limit // 4
        self.room = asyncio.Event()  # set while polls may go on; cleared past high_water
        self.room.set()
        self.backpressure = True  # off while the spool cannot take what the export hands it
        self.pauses = 0  # times the queue passed high_water and the polls waited

    def enqueue(self, inst: Instance, reading: Reading) -> bool:
        """Queue a reading as a sample; return False for a string value, which has none."""
        value = reading.value
        if isinstance(value, str):
            return False
        report.remember(inst, reading)
        self.encoder.add(
            reading.metric, reading.unit, float(value), reading.timestamp_ns,
            inst.attributes.point(reading),
        )  # fmt: skip
        self.accepted_by_device[reading.device] += 1
        self.counted(1)
        return True

    def enqueue_batch(self, inst: Instance, batch: ReadingBatch) -> int:
        """Queue a batch's samples; return how many (a string value has none)."""
        if (
            inst.resend
            or inst.config.report.mode != "every_poll"
            or len(batch.metrics) != len(batch.values)
        ):
            # the report strategy and the heartbeat work per reading; a malformed batch raises
            return sum(report.accept(inst, r) and self.enqueue(inst, r) for r in batch.readings())
        try:
            self.encoder.add_many(
                batch.metrics, batch.values, batch.timestamp_ns,  # type: ignore[arg-type]
                inst.attributes.point(batch),
            )  # fmt: skip
        except struct.error:  # a value is not a number (a string): one at a time, skipping it
            return sum(self.enqueue(inst, r) for r in batch.readings())
        count = len(batch.values)
        self.accepted_by_device[batch.device] += count
        self.counted(count)
        return count

    def counted(self, count: int) -> None:
        """Count newly encoded samples; seal a full batch; drop the oldest beyond the limit."""
        self.accepted += count
        self.queued += count
        if self.encoder.count >= self.batch_size:
            self.seal()
        self._mark()
        self.drop_excess()

    def _mark(self) -> None:
        """Ask the polls to wait once the queue passes ``high_water`` (backpressure on)."""
        if self.queued >= self.high_water and self.backpressure and self.room.is_set():
            self.room.clear()
            self.pauses += 1

    def hold(self, on: bool) -> None:
        """Turn backpressure on or off; off, the polls go on and the oldest drop at the limit."""
        self.backpressure = on
        if not on:
            self.room.set()
        else:
            self._mark()

    def seal(self) -> None:
        """Turn what the encoder holds into a request body waiting for export."""
        count = self.encoder.count
        if count:
            self.requests.append((self.encoder.take(), count))

    def put_back(self, body: bytes, count: int) -> None:
        """Return a request that could not be exported or spooled to the front of the queue."""
        self.requests.appendleft((body, count))
        self.queued += count
        self._mark()
        self.drop_excess()

    def drop_excess(self) -> None:
        """Drop the oldest requests while more than ``queue_limit`` readings wait; count them."""
        while self.queued > self.queue_limit and self.requests:
            _body, dropped = self.requests.popleft()
            self.queued -= dropped
            self.dropped += dropped
            self.dropped_requests += 1
            self.on_drop(dropped)

    def take(self) -> tuple[bytes, int] | None:
        """Return the oldest request body and its reading count, sealing a partial batch."""
        if not self.requests:
            self.seal()
        if not self.requests:
            return None
        body, count = self.requests.popleft()
        self.queued -= count
        if self.queued <= self.low_water:
            self.room.set()
        return body, count
