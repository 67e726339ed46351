"""Run the configured connectors: a supervised task per device, every reading a raw sample.

Readings travel as raw OTLP samples (``sentio.otlp``), each with its own timestamp, because the
metrics SDK would keep only the last value of a gauge between exports; Sentio's own health
(up, errors, last success, queue and spool) goes through the SDK, the poll duration through
``sentio.histograms`` (counted here, exported with the SDK's metrics).

The runtime alone owns device health (Home Assistant's coordinator pattern): connectors yield
samples or raise; a device is down after a poll that raised or yielded an ERROR event naming it,
and up after one that read it. Each change is logged once ("device X is down: reason", "device
X recovered"); a down device's further failures are counted, not logged.

Each concern has its module: ``health`` (up/down), ``report`` (report strategy, heartbeat),
``attributes`` (data-point attribute caches), ``encoding`` (the bounded request queue),
``spans`` (poll spans and their values), ``deadlines`` (one timer for every poll's deadline),
``export`` (export and spool replay), ``supervision`` (restarts and the stop), ``backoff`` (the
one backoff); this module wires them to the connectors.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

import aiohttp
from opentelemetry.metrics import CallbackOptions, Observation
from sentio.collectors import health, report
from sentio.collectors.deadlines import Deadlines
from sentio.collectors.encoding import RequestQueue
from sentio.collectors.export import Exporter
from sentio.collectors.instance import Instance
from sentio.collectors.registry import build
from sentio.collectors.schedule import Schedule, phase
from sentio.collectors.spans import PollTracer, SpanValues
from sentio.collectors.spool import Spool
from sentio.collectors.supervision import Supervisor
from sentio.connectors.contract import (
    ConnectorError,
    ConnectorTimeoutError,
    Event,
    Reading,
    ReadingBatch,
    Severity,
    now_ns,
)

from sentio.config import SentioConfig
from sentio.errors import SentioError
from sentio.histograms import Histogram
from sentio.otlp import MetricsPusher
from sentio.redact import redact
from sentio.telemetry import Telemetry

__all__ = ["Collector", "Instance"]

LOG_LEVELS = {
    Severity.DEBUG: logging.DEBUG,
    Severity.INFO: logging.INFO,
    Severity.WARN: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.FATAL: logging.CRITICAL,
}
MIN_CALL_TIMEOUT_S = 15.0
WARN_EVERY_S = 60.0
T = TypeVar("T")
# The SDK's default boundaries (0, 5, 10, 25 ... 10000) suit milliseconds: every poll would
# fall in the first bucket. A poll's deadline is at least 15 s.
POLL_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]
log = logging.getLogger("sentio.collector")
device_log = logging.getLogger("sentio.collector.devices")


class Collector:
    """Own the connectors, the export queue and the health instruments."""

    def __init__(
        self, config: SentioConfig, telemetry: Telemetry,
        readings_identity: Mapping[str, str] | None = None,
    ) -> None:  # fmt: skip
        """Wire the connectors; readings carry ``readings_identity`` over the process's own."""
        self.config = config
        self.instances = [
            Instance(inst, build(inst, f"connectors[{i}]"))
            for i, inst in enumerate(config.connectors)
        ]
        cfg = config.collector
        self.supervisor = Supervisor(cfg.backoff_initial_s, cfg.backoff_max_s)
        self.deadlines = Deadlines()
        own = {k: str(v) for k, v in telemetry.resource.attributes.items()}
        self.resource = {**own, **(readings_identity or {})}
        # Readings are encoded as they are accepted; a full batch becomes a request body here.
        self.queue = RequestQueue(
            self.resource, min(cfg.max_batch, cfg.queue_limit), cfg.queue_limit,
            lambda dropped: self.dropped_counter.add(dropped),
        )  # fmt: skip
        spool = Spool(
            cfg.spool_dir or config.stack.data_dir / "spool", cfg.spool_max_bytes,
            fsync=cfg.spool_fsync,
        )  # fmt: skip
        self.exporter = Exporter(self.queue, spool, self.supervisor, cfg.flush_interval_s)
        self.span_values = SpanValues()
        self.held_logged_at = -WARN_EVERY_S
        self.tracer = telemetry.tracer_provider.get_tracer("sentio.collector")
        self.poll_spans = PollTracer(self.tracer, "sentio.collector")
        self._instruments(telemetry)
        self._schedule_instruments(telemetry)

    def _instruments(self, telemetry: Telemetry) -> None:
        """Create the collector's own instruments: polls, readings, errors, health, queue, spool."""
        meter = telemetry.meter_provider.get_meter("sentio.collector")
        # Counted here, not by the SDK's histogram: its record costs ten times as much per poll.
        self.poll_duration = Histogram(
            "sentio.collector.poll.duration", "s", "Time one poll took.", POLL_SECONDS,
            self.config.telemetry.max_attribute_sets,
        )  # fmt: skip
        telemetry.keep("sentio.collector", self.poll_duration.metric)
        # Counted by the instances and observed at each export: a counter's add costs the SDK
        # a measurement object and its attributes cleaned and hashed, on every poll.
        meter.create_observable_counter(
            "sentio.collector.readings",
            [lambda _o: [Observation(i.readings, i.labels) for i in self.instances]],
            unit="{reading}",
            description="Readings accepted.",
        )
        self.errors = meter.create_counter(
            "sentio.collector.errors", unit="{error}", description="Failed polls and requests."
        )
        self.dropped_counter = meter.create_counter(
            "sentio.collector.queue.dropped", unit="{reading}", description="Dropped, queue full."
        )
        meter.create_observable_counter(
            "sentio.collector.queue.paused",
            [lambda _o: [Observation(self.queue.pauses)]],
            unit="{pause}",
            description="Times the queue passed half of queue_limit and the polls waited.",
        )
        meter.create_observable_counter(
            "sentio.collector.queue.dropped_requests",
            [lambda _o: [Observation(self.queue.dropped_requests)]],
            unit="{request}",
            description="Requests dropped from the in-memory queue at queue_limit.",
        )
        meter.create_observable_counter(
            "sentio.collector.spool.dropped_readings",
            [lambda _o: [Observation(self.spool.dropped_readings)]],
            unit="{reading}",
            description="Readings in spooled requests dropped at the size bound.",
        )
        meter.create_observable_counter(
            "sentio.collector.export.refused_requests",
            [lambda _o: [Observation(self.exporter.refused)]],
            unit="{request}",
            description="Requests the metrics backend refused for good (4xx), not retried.",
        )
        meter.create_observable_counter(
            "sentio.collector.export.refused_readings",
            [lambda _o: [Observation(self.exporter.refused_readings)]],
            unit="{reading}",
            description="Readings in those requests (of a spooled one, when it was spooled).",
        )
        meter.create_observable_counter(
            "sentio.collector.limit.refused",
            [lambda _o: [Observation(i.limits.refused, i.labels) for i in self.instances]],
            unit="{name}",
            description="New devices and metric names refused past max_devices and "
            "max_metrics_per_device.",
        )
        meter.create_observable_counter(
            "sentio.collector.limit.dropped",
            [lambda _o: [Observation(i.limits.dropped, i.labels) for i in self.instances]],
            unit="{reading}",
            description="Readings dropped because their device or metric name was refused.",
        )
        meter.create_observable_counter(
            "sentio.collector.connector.dropped",
            [lambda _o: [Observation(i.connector.dropped(), i.labels) for i in self.instances]],
            unit="{message}",
            description="Incoming messages a connector dropped, its incoming queue full.",
        )
        meter.create_observable_gauge(
            "sentio.collector.device.up", [self._up], unit="{state}", description="1 up, 0 down."
        )
        meter.create_observable_gauge(
            "sentio.collector.device.last_success",
            [self._last_success],
            unit="s",
            description="Unix time of the device's last good poll.",
        )
        meter.create_observable_gauge(
            "sentio.collector.queue.depth",
            [lambda _o: [Observation(self.queued)]],
            unit="{reading}",
            description="Readings waiting to be exported.",
        )
        meter.create_observable_gauge(
            "sentio.collector.spool.depth",
            [lambda _o: [Observation(len(self.spool))]],
            unit="{request}",
            description="Requests waiting on disk for the backend.",
        )
        meter.create_observable_gauge(
            "sentio.collector.spool.size",
            [lambda _o: [Observation(self.spool.size_bytes)]],
            unit="By",
            description="Bytes the spool holds on disk.",
        )
        meter.create_observable_counter(
            "sentio.collector.spool.replayed",
            [lambda _o: [Observation(self.spool.replayed)]],
            unit="{request}",
            description="Spooled requests delivered.",
        )
        meter.create_observable_counter(
            "sentio.collector.spool.dropped",
            [lambda _o: [Observation(self.spool.dropped)]],
            unit="{request}",
            description="Spooled requests dropped at the size bound.",
        )

    # What callers and the summary line read, each kept by the part that owns it.
    stopping = property(lambda self: self.supervisor.stopping, doc="Set to stop the collector.")
    restarts = property(lambda self: self.supervisor.restarts, doc="Supervised task restarts.")
    spool = property(lambda self: self.exporter.spool, doc="The on-disk spool.")
    sent = property(lambda self: self.exporter.sent, doc="Readings the backend took.")
    spooled = property(lambda self: self.exporter.spooled, doc="Readings written to the spool.")
    refused = property(lambda self: self.exporter.refused, doc="Requests the backend refused.")
    refused_readings = property(
        lambda self: self.exporter.refused_readings, doc="Readings in refused requests."
    )
    backend_down = property(lambda self: self.exporter.backend_down, doc="Backend not taking.")
    _spool_thread = property(lambda self: self.exporter.spool_thread)
    accepted = property(lambda self: self.queue.accepted, doc="Readings accepted.")
    accepted_by_device = property(
        lambda self: self.queue.accepted_by_device, doc="Readings accepted, per device."
    )
    dropped = property(lambda self: self.queue.dropped, doc="Readings dropped, queue full.")

    def drops(self) -> tuple[int, int]:
        """Return every reading and request dropped: queue full, refused, spool bound."""
        readings = self.queue.dropped + self.refused_readings + self.spool.dropped_readings
        return readings, self.queue.dropped_requests + self.refused + self.spool.dropped

    def refusals(self) -> tuple[int, int, int]:
        """Return the names refused past the caps, their readings, and messages dropped."""
        return (
            sum(i.limits.refused for i in self.instances),
            sum(i.limits.dropped for i in self.instances),
            sum(i.connector.dropped() for i in self.instances),
        )

    queued = property(lambda self: self.queue.queued, doc="Readings waiting for export.")
    requests = property(lambda self: self.queue.requests, doc="Sealed request bodies waiting.")

    # The metric reader calls these on its own thread while the polls add devices: each reads
    # a copy of the devices (taken in one step under the GIL), not the dict the loop changes.
    def _up(self, _options: CallbackOptions) -> list[Observation]:
        return [
            Observation(int(h.up), {**i.labels, "device": d})
            for i in self.instances
            for d, h in tuple(i.devices.items())
        ]

    def _last_success(self, _options: CallbackOptions) -> list[Observation]:
        return [
            Observation(h.last_success, {**i.labels, "device": d})
            for i in self.instances
            for d, h in tuple(i.devices.items())
            if h.last_success
        ]

    def _device_state(self, inst: Instance, device: str, ok: bool, reason: str = "") -> None:
        health.set_state(inst.devices, inst.config.name, device, ok, reason)

    def _accept(self, inst: Instance, reading: Reading) -> bool:
        return report.accept(inst, reading)

    def _enqueue(self, inst: Instance, reading: Reading) -> bool:
        return self.queue.enqueue(inst, reading)

    def _seal(self) -> None:
        self.queue.seal()

    def _event(self, inst: Instance, event: Event) -> None:
        attrs = {**event.attributes, "device": event.device, "instance": inst.config.name}
        device_log.log(LOG_LEVELS.get(event.severity, logging.INFO), event.body, extra=attrs)

    def _sample(
        self, inst: Instance, sample: Reading | ReadingBatch | Event, seen: set[str],
        failed: dict[str, str],
    ) -> int:  # fmt: skip
        """Route one sample: readings to the queue, an event to the log; return how many queued.

        An ERROR event is a health signal, not a log line: it marks its device failed for this
        poll, and the device's state change is logged once (``_device_state``). So is an event
        that says whether its device is available: False holds the device down, readings of it
        notwithstanding, until one says True.
        """
        limits = inst.limits
        if isinstance(sample, ReadingBatch):
            if limits.active and not limits.batch(sample.device, sample.metrics):
                return self._capped_batch(inst, sample, seen)
            count = self.queue.enqueue_batch(inst, sample)  # a malformed batch raises: not seen
            if sample.device not in inst.unavailable:
                seen.add(sample.device)
            return count
        if isinstance(sample, Reading):
            if limits.active and not limits.reading(sample.device, sample.metric):
                return 0
            if sample.device not in inst.unavailable:
                seen.add(sample.device)
            return report.accept(inst, sample) and self.queue.enqueue(inst, sample)
        if limits.active and not limits.device(sample.device):
            return 0  # an event of a refused device: its name was logged when refused
        if sample.available is False:
            inst.unavailable.add(sample.device)
            failed.setdefault(sample.device, sample.body)
        elif sample.available is True:
            inst.unavailable.discard(sample.device)
            seen.add(sample.device)
        elif sample.severity >= Severity.ERROR:
            failed.setdefault(sample.device, sample.body)
        else:
            self._event(inst, sample)
        if sample.gone:
            report.forget(inst, sample.device)
            limits.forget(sample.device)
        return 0

    def _capped_batch(self, inst: Instance, batch: ReadingBatch, seen: set[str]) -> int:
        """Queue the readings of a batch whose device or some metrics are past the caps."""
        kept = [r for r in batch.readings() if inst.limits.reading(r.device, r.metric)]
        if kept and batch.device not in inst.unavailable:
            seen.add(batch.device)
        return sum(report.accept(inst, r) and self.queue.enqueue(inst, r) for r in kept)

    def _check_dropped(self, inst: Instance) -> None:
        """Log, at most once a minute, that the connector dropped incoming messages."""
        dropped = inst.connector.dropped()
        if dropped <= inst.dropped_warned:
            return
        now = time.monotonic()
        if now - inst.dropped_logged_at < WARN_EVERY_S and inst.dropped_logged_at:
            return
        log.warning(
            "connector %s dropped %d incoming messages (%d in all): its incoming queue was "
            "full; the collector reads slower than they arrive",
            inst.config.name, dropped - inst.dropped_warned, dropped,
            extra={"instance": inst.config.name},
        )  # fmt: skip
        inst.dropped_warned, inst.dropped_logged_at = dropped, now

    async def _heartbeat(self, inst: Instance) -> None:
        """Send the last value of each metric again when unchanged for ``heartbeat_s``."""
        every = inst.config.report.heartbeat_s
        while not self.stopping.is_set():
            await self._wait(min(every / 10, 1.0))
            if not inst.connected:
                continue
            stale = report.stale(inst)
            for reading in stale:
                self.queue.enqueue(inst, dataclasses.replace(reading, timestamp_ns=now_ns()))
            if stale:
                inst.readings += len(stale)

    def _deadline(self, inst: Instance, interval_s: float | None = None) -> float:
        """Return how long one call into ``inst``'s connector may take."""
        configured = self.config.collector.call_timeout_s
        if configured is not None:
            return configured
        interval = inst.config.poll_interval_s if interval_s is None else interval_s
        return max(2 * interval, MIN_CALL_TIMEOUT_S)

    async def _call(self, inst: Instance, what: str, call: Awaitable[T], timeout_s: float) -> T:
        """Await a call into a connector; one that outlives ``timeout_s`` is a ConnectorError."""
        try:
            async with asyncio.timeout(timeout_s):
                return await call
        except TimeoutError:
            raise ConnectorTimeoutError(
                f"{inst.config.name}: {what} did not return within {timeout_s:g} s"
            ) from None

    async def _connect(self, inst: Instance) -> None:
        """Connect the instance once, however many of its device tasks ask at the same time."""
        if inst.connected:
            return
        async with inst.lock:
            if not inst.connected:
                await self._call(inst, "connect", inst.connector.connect(), self._deadline(inst))
                inst.connected = True
                if inst.config.name in inst.devices:
                    self._device_state(inst, inst.config.name, True)

    def _connector_failed(self, inst: Instance, exc: Exception) -> str:
        """Mark the instance disconnected after a connector's exception; return the reason.

        An error outside the documented trees is a plugin's bug: its traceback is logged once,
        until a poll of the instance succeeds again.
        """
        inst.connected = False
        if isinstance(exc, SentioError | ConnectorError):
            return redact(str(exc))
        if not inst.traceback_logged:
            inst.traceback_logged = True
            log.exception("connector %s raised an unexpected error", inst.config.name)
        return redact(repr(exc))

    async def _poll_once(
        self, inst: Instance, device: str | None = None, interval_s: float | None = None
    ) -> bool:
        """Run one poll (of one device, or of the whole connector) inside its span.

        Return whether any device answered: only a poll where none did backs off, so one
        failing device never slows the others sharing its connection.
        """
        name = inst.config.name
        labels = inst.labels if device is None else inst.device_labels(device)
        started = time.monotonic()
        seen: set[str] = set()
        failed: dict[str, str] = {}
        span = self.poll_spans.start(labels)
        recorded: dict[str, list[str]] = {}
        recording = span.recording  # a span the sampler dropped records nothing
        reason: str | None = None
        try:
            try:
                if not inst.connected:
                    await self._connect(inst)
                samples = inst.connector.read() if device is None else inst.connector.poll(device)
                deadline = self._deadline(inst, interval_s)
                try:
                    with self.deadlines.watch(deadline):
                        async for sample in samples:
                            if recording and isinstance(sample, Reading | ReadingBatch):
                                values = recorded.get(sample.device)
                                if values is None:
                                    values = recorded[sample.device] = []
                                values.append(self.span_values.format(sample))
                            inst.readings += self._sample(inst, sample, seen, failed)
                except TimeoutError:
                    raise ConnectorTimeoutError(
                        f"{name}: the poll did not return within {deadline:g} s"
                    ) from None
            except Exception as exc:  # a plugin's bug must not end its supervision
                reason = self._connector_failed(inst, exc)
                failed[name if device is None else device] = reason
            for key in seen:
                if key not in failed:
                    self._device_state(inst, key, True)
            for key, why in failed.items():
                self._device_state(inst, key, False, why)
        finally:
            span.end(recorded, failed, reason)
        if failed:
            self.errors.add(len(failed), inst.labels)
        self.poll_duration.record(time.monotonic() - started, (name, device), labels)
        answered = any(key not in failed for key in seen) if failed else bool(seen)
        if answered:
            inst.traceback_logged = False
        return answered

    def _schedule_instruments(self, telemetry: Telemetry) -> None:
        """Count the poll ticks skipped per instance: the poll before was still running."""
        self.missed_polls: dict[str, int] = {}
        telemetry.meter_provider.get_meter("sentio.collector").create_observable_counter(
            "sentio.collector.poll.missed",
            [lambda _o: [Observation(self.missed_polls.get(i.config.name, 0), i.labels)
                         for i in self.instances]],
            unit="{poll}",
            description="Poll ticks skipped: the poll before was still running at them.",
        )  # fmt: skip

    async def _wait(self, seconds: float) -> None:
        await self.supervisor.wait(seconds)

    async def _supervise(
        self, inst: Instance, device: str | None = None, interval_s: float | None = None
    ) -> None:
        """Poll one device (or the whole connector) on its schedule, backing off on failure.

        A poll still running at its next tick skips that tick (counted in ``missed_polls``);
        after a backoff the ticks start again from the poll that follows it.
        """
        interval = inst.config.poll_interval_s if interval_s is None else interval_s
        backoff = self.supervisor.backoff()
        clock = asyncio.get_running_loop().time
        name = inst.config.name
        key = name if device is None else f"{name}/{device}"
        schedule = Schedule(interval, clock() + phase(key, interval))
        sleep_until = self.supervisor.sleep_until
        stopping = self.stopping
        room = self.queue.room
        while not stopping.is_set():
            await sleep_until(schedule.next_at)
            if not room.is_set():
                await self._held_back()
            if stopping.is_set():
                return
            if await self._poll_once(inst, device, interval_s):
                backoff.reset()
                skipped = schedule.advance(clock())
                if skipped:
                    self.missed_polls[name] = self.missed_polls.get(name, 0) + skipped
            else:
                schedule.restart(clock() + backoff.next())

    async def _held_back(self) -> None:
        """Wait while the export drains the queue; say so at most once a minute."""
        now = time.monotonic()
        if now - self.held_logged_at >= WARN_EVERY_S:
            self.held_logged_at = now
            log.warning(
                "the export is behind: %d readings wait (half of queue_limit %d); polls wait "
                "until it has sent them down to a quarter, so they run late rather than drop",
                self.queue.queued, self.queue.queue_limit,
            )  # fmt: skip
        await self.queue.room.wait()

    async def _stream(self, inst: Instance) -> None:
        """Drive a push connector: connect, take samples as they come, reconnect with backoff.

        Health is kept per message: a reading marks its device up, an ERROR event marks it
        down, and a lost connection marks the instance itself down until it is back.
        """
        name = inst.config.name
        backoff = self.supervisor.backoff()
        while not self.stopping.is_set():
            try:
                with self.tracer.start_as_current_span("connect", attributes=inst.labels):
                    await self._connect(inst)
                room = self.queue.room
                async for sample in inst.connector.read():
                    if not room.is_set():
                        await self._held_back()  # the connector's own queue bounds the wait
                    seen: set[str] = set()
                    errors: dict[str, str] = {}
                    count = self._sample(inst, sample, seen, errors)
                    if count:
                        inst.readings += count
                    for device in seen:
                        self._device_state(inst, device, True)
                    for device, reason in errors.items():
                        self._device_state(inst, device, False, reason)
                        self.errors.add(1, inst.labels)
                    self._check_dropped(inst)
                    backoff.reset()
                if self.stopping.is_set():
                    return
                raise SentioError(f"{name}: the connector's stream ended")
            except Exception as exc:  # a plugin's bug must not end its supervision
                reason = self._connector_failed(inst, exc)
                self._device_state(inst, name, False, reason)
                self.errors.add(1, inst.labels)
            await self._close(inst)
            await self._wait(backoff.next())

    def _tasks(self, inst: Instance) -> list[asyncio.Task[None]]:
        """Start the tasks one instance needs: a stream, one per device, or one for all."""
        name = inst.config.name
        if inst.connector.push:
            stream = self._task(f"stream {name}", lambda: self._stream(inst))
            if not inst.resend:
                return [stream]
            return [stream, self._task(f"heartbeat {name}", lambda: self._heartbeat(inst))]
        schedules = inst.connector.devices()
        if not schedules:
            return [self._task(f"poll {name}", lambda: self._supervise(inst))]
        return [
            self._task(
                f"poll {name}/{d.name}",
                functools.partial(self._supervise, inst, d.name, d.interval_s),
            )
            for d in schedules
        ]

    async def _close(self, inst: Instance) -> None:
        """Close a connector; one that raises or hangs is logged and never stops the shutdown."""
        timeout_s = self.config.collector.close_timeout_s
        try:
            await self._call(inst, "close", inst.connector.close(), timeout_s)
        except Exception as exc:  # a plugin's bug must not skip the final flush
            level = logging.WARNING if isinstance(exc, SentioError) else logging.ERROR
            log.log(level, "connector %s failed to close: %s", inst.config.name, redact(repr(exc)))

    async def _keep_running(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        await self.supervisor.keep_running(name, body)

    def _task(self, name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        return self.supervisor.task(name, body)

    async def run(self) -> None:
        """Run every connector, the exporter and the replay until ``stopping``, then flush."""
        exporter = self.exporter
        try:
            async with aiohttp.ClientSession() as session:
                pusher = MetricsPusher(
                    session, self.config.endpoint("metrics"), self.config.telemetry.metrics
                )
                tasks = [task for inst in self.instances for task in self._tasks(inst)]
                export = self._task("export", lambda: exporter.export(pusher))
                replay = self._task("replay", lambda: exporter.replay(pusher))
                try:
                    await self.stopping.wait()
                finally:
                    self.stopping.set()
                    exporter.replay_wanted.set()
                    self.queue.room.set()
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    await asyncio.gather(*(self._close(inst) for inst in self.instances))
                    try:
                        await export
                    finally:
                        # an unacknowledged record stays on disk for the next start
                        replay.cancel()
                        await asyncio.gather(replay, return_exceptions=True)
        finally:
            exporter.spool_thread.shutdown(wait=True)
