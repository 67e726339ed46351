"""Run the configured connectors: a supervised task per device, every reading a raw sample.

Readings travel as raw OTLP samples (``sentio.otlp``), each with its own timestamp, because the
metrics SDK would keep only the last value of a gauge between exports; Sentio's own health
(up, poll duration, errors, last success, queue and spool) goes through the SDK.

The runtime alone owns device health (Home Assistant's coordinator pattern): connectors yield
samples or raise; a device is down after a poll that raised or yielded an ERROR event naming it,
and up after one that read it. Each change is logged once ("device X is down: reason", "device
X recovered"); a down device's further failures are counted, not logged.

While the metrics backend refuses or hangs, new batches go straight to the on-disk spool, which
a task of its own replays in order with backoff, so the export path never waits on a replay.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import functools
import logging
import random
import struct
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace import Status, StatusCode
from sentio.collectors.registry import build
from sentio.collectors.spool import Spool
from sentio.connectors.contract import (
    Connector,
    ConnectorError,
    Event,
    Quality,
    Reading,
    ReadingBatch,
    Severity,
    now_ns,
)

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.errors import SentioError
from sentio.otlp import ExportError, GaugeEncoder, MetricsPusher
from sentio.redact import redact
from sentio.telemetry import Telemetry

LOG_LEVELS = {
    Severity.DEBUG: logging.DEBUG,
    Severity.INFO: logging.INFO,
    Severity.WARN: logging.WARNING,
    Severity.ERROR: logging.ERROR,
    Severity.FATAL: logging.CRITICAL,
}
ATTRIBUTE_SETS_CACHED = 10_000
T = TypeVar("T")
log = logging.getLogger("sentio.collector")
device_log = logging.getLogger("sentio.collector.devices")


@dataclass
class DeviceHealth:
    """What the collector knows about one device's state."""

    up: bool = False
    last_success: float = 0.0
    failures: int = 0  # failed polls in a row


@dataclass
class Instance:
    """One running connector and its devices' health."""

    config: ConnectorInstanceConfig
    connector: Connector[Any]
    connected: bool = False
    devices: dict[str, DeviceHealth] = field(default_factory=dict)
    last_sent: dict[tuple[str, str], tuple[float | bool | str, float]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    traceback_logged: bool = False
    latest: dict[tuple[str, str], tuple[Reading, float]] = field(default_factory=dict)
    resend: bool = False
    by_content: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    by_identity: dict[int, tuple[object, str, Quality, dict[str, Any]]] = field(
        default_factory=dict
    )

    def __post_init__(self) -> None:
        self.resend = self.connector.changes_only


class Collector:
    """Own the connectors, the export queue and the health instruments."""

    def __init__(self, config: SentioConfig, telemetry: Telemetry) -> None:
        self.config = config
        self.instances = [
            Instance(inst, build(inst, f"connectors[{i}]"))
            for i, inst in enumerate(config.connectors)
        ]
        self.queue_limit = config.collector.queue_limit
        cfg = config.collector
        self.spool = Spool(
            cfg.spool_dir or config.stack.data_dir / "spool", cfg.spool_max_bytes,
            fsync=cfg.spool_fsync,
        )  # fmt: skip
        self._spool_thread = ThreadPoolExecutor(1, thread_name_prefix="sentio-spool")
        self.dropped = 0
        self.refused = 0
        self.refused_readings = 0
        self.accepted = 0
        self.accepted_by_device: collections.Counter[str] = collections.Counter()
        self.sent = 0
        self.spooled = 0
        self.restarts = 0
        self.stopping = asyncio.Event()
        self.replay_wanted = asyncio.Event()
        self.backend_down = False
        self.resource = {k: str(v) for k, v in telemetry.resource.attributes.items()}
        # Readings are encoded as they are accepted; a full batch becomes a request body here.
        self.encoder = GaugeEncoder(self.resource, "sentio.collector")
        self.requests: collections.deque[tuple[bytes, int]] = collections.deque()
        self.queued = 0  # readings accepted and not yet handed to the backend or the spool
        self.batch_size = min(cfg.max_batch, cfg.queue_limit)
        self.span_templates: dict[int, tuple[object, str]] = {}
        self.tracer = telemetry.tracer_provider.get_tracer("sentio.collector")
        meter = telemetry.meter_provider.get_meter("sentio.collector")
        self.poll_duration = meter.create_histogram(
            "sentio.collector.poll.duration", unit="s", description="Time one poll took."
        )
        self.readings = meter.create_counter(
            "sentio.collector.readings", unit="{reading}", description="Readings accepted."
        )
        self.errors = meter.create_counter(
            "sentio.collector.errors", unit="{error}", description="Failed polls and requests."
        )
        self.dropped_counter = meter.create_counter(
            "sentio.collector.queue.dropped", unit="{reading}", description="Dropped, queue full."
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

    def _up(self, _options: CallbackOptions) -> list[Observation]:
        return [
            Observation(int(h.up), {"instance": i.config.name, "device": d})
            for i in self.instances
            for d, h in i.devices.items()
        ]

    def _last_success(self, _options: CallbackOptions) -> list[Observation]:
        return [
            Observation(h.last_success, {"instance": i.config.name, "device": d})
            for i in self.instances
            for d, h in i.devices.items()
            if h.last_success
        ]

    def _device_state(self, inst: Instance, device: str, ok: bool, reason: str = "") -> None:
        attrs = {"instance": inst.config.name, "device": device}
        health = inst.devices.get(device)
        if health is None:
            health = inst.devices[device] = DeviceHealth(up=ok)
            if not ok:
                device_log.error("device %s is down: %s", device, redact(reason), extra=attrs)
        elif ok != health.up:
            if ok:
                device_log.info("device %s recovered", device, extra=attrs)
            else:
                device_log.error("device %s is down: %s", device, redact(reason), extra=attrs)
        health.up = ok
        if ok:
            health.last_success = time.time()
            health.failures = 0
        else:
            health.failures += 1

    def _accept(self, inst: Instance, reading: Reading) -> bool:
        """Apply the report strategy: every poll, or on change with a heartbeat."""
        report = inst.config.report
        if report.mode == "every_poll":
            return True
        key = (reading.device, reading.metric)
        now = reading.timestamp_ns / 1e9
        previous = inst.last_sent.get(key)
        if previous and previous[0] == reading.value and now - previous[1] < report.heartbeat_s:
            return False
        inst.last_sent[key] = (reading.value, now)
        return True

    def _point_attributes(self, inst: Instance, reading: Reading | ReadingBatch) -> dict[str, Any]:
        """Return the attributes of a reading's sample, one shared dict per device and set."""
        attrs = reading.attributes
        hit = inst.by_identity.get(id(attrs))
        if (
            hit is not None
            and hit[0] is attrs
            and hit[1] == reading.device
            and hit[2] is reading.quality
        ):
            return hit[3]
        if len(inst.by_identity) >= ATTRIBUTE_SETS_CACHED:
            inst.by_identity.clear()
            inst.by_content.clear()
        key = (reading.device, reading.quality, tuple(attrs.items()))
        merged = inst.by_content.get(key)
        if merged is None:
            merged = inst.by_content[key] = {
                **attrs,
                "device": reading.device,
                "connector": inst.config.type,
                "instance": inst.config.name,
            }
            if reading.quality is not Quality.GOOD:
                merged["quality"] = reading.quality.value
        # keeping ``attrs`` in the entry keeps its id from being reused by another dict
        inst.by_identity[id(attrs)] = (attrs, reading.device, reading.quality, merged)
        return merged

    def _enqueue(self, inst: Instance, reading: Reading) -> bool:
        """Queue a reading as a sample; return False for a string value, which has none."""
        value = reading.value
        if isinstance(value, str):
            return False
        if inst.resend:
            inst.latest[reading.device, reading.metric] = (reading, time.monotonic())
        self.encoder.add(
            reading.metric, reading.unit, float(value), reading.timestamp_ns,
            self._point_attributes(inst, reading),
        )  # fmt: skip
        self.accepted_by_device[reading.device] += 1
        self._queued(1)
        return True

    def _enqueue_batch(self, inst: Instance, batch: ReadingBatch) -> int:
        """Queue a batch's samples; return how many (a string value has none)."""
        if (
            inst.resend
            or inst.config.report.mode != "every_poll"
            or len(batch.metrics) != len(batch.values)
        ):
            # the report strategy and the heartbeat work per reading; a malformed batch raises
            return sum(self._accept(inst, r) and self._enqueue(inst, r) for r in batch.readings())
        try:
            self.encoder.add_many(
                batch.metrics, batch.values, batch.timestamp_ns,  # type: ignore[arg-type]
                self._point_attributes(inst, batch),
            )  # fmt: skip
        except struct.error:  # a value is not a number (a string): one at a time, skipping it
            return sum(self._enqueue(inst, r) for r in batch.readings())
        count = len(batch.values)
        self.accepted_by_device[batch.device] += count
        self._queued(count)
        return count

    def _queued(self, count: int) -> None:
        """Count newly encoded samples; seal a full batch; drop the oldest beyond the limit."""
        self.accepted += count
        self.queued += count
        if self.encoder.count >= self.batch_size:
            self._seal()
        while self.queued > self.queue_limit and self.requests:
            _body, dropped = self.requests.popleft()
            self.queued -= dropped
            self.dropped += dropped
            self.dropped_counter.add(dropped)

    def _seal(self) -> None:
        """Turn what the encoder holds into a request body waiting for export."""
        count = self.encoder.count
        if count:
            self.requests.append((self.encoder.take(), count))

    def _event(self, inst: Instance, event: Event) -> None:
        attrs = {**event.attributes, "device": event.device, "instance": inst.config.name}
        device_log.log(LOG_LEVELS.get(event.severity, logging.INFO), event.body, extra=attrs)

    def _sample(
        self, inst: Instance, sample: Reading | ReadingBatch | Event, seen: set[str],
        failed: dict[str, str],
    ) -> int:  # fmt: skip
        """Route one sample: readings to the queue, an event to the log; return how many queued.

        An ERROR event is a health signal, not a log line: it marks its device failed for this
        poll, and the device's state change is logged once (``_device_state``).
        """
        if isinstance(sample, ReadingBatch):
            count = self._enqueue_batch(inst, sample)  # a malformed batch raises: not seen
            seen.add(sample.device)
            return count
        if isinstance(sample, Reading):
            seen.add(sample.device)
            return self._accept(inst, sample) and self._enqueue(inst, sample)
        if sample.severity >= Severity.ERROR:
            failed.setdefault(sample.device, sample.body)
        else:
            self._event(inst, sample)
        if sample.gone:
            self._forget(inst, sample.device)
        return 0

    def _forget(self, inst: Instance, device: str) -> None:
        """Drop a device that no longer exists: its heartbeat and its health."""
        inst.devices.pop(device, None)
        for key in [k for k in inst.latest if k[0] == device]:
            del inst.latest[key]

    async def _heartbeat(self, inst: Instance) -> None:
        """Send the last value of each metric again when unchanged for ``heartbeat_s``."""
        every = inst.config.report.heartbeat_s
        while not self.stopping.is_set():
            await self._wait(min(every / 10, 1.0))
            if not inst.connected:
                continue
            now = time.monotonic()
            stale = [r for r, sent in inst.latest.values() if now - sent >= every]
            for reading in stale:
                self._enqueue(inst, dataclasses.replace(reading, timestamp_ns=now_ns()))
            if stale:
                self.readings.add(len(stale), {"instance": inst.config.name})

    async def _connect(self, inst: Instance) -> None:
        """Connect the instance once, however many of its device tasks ask at the same time."""
        async with inst.lock:
            if not inst.connected:
                await inst.connector.connect()
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

    async def _poll_once(self, inst: Instance, device: str | None = None) -> bool:
        """Run one poll (of one device, or of the whole connector) inside its span.

        Return whether any device answered: only a poll where none did backs off, so one
        failing device never slows the others sharing its connection.
        """
        name = inst.config.name
        labels = {"instance": name} if device is None else {"instance": name, "device": device}
        started = time.monotonic()
        seen: set[str] = set()
        failed: dict[str, str] = {}
        with self.tracer.start_as_current_span(
            "poll", attributes={**labels, "connector": inst.config.type}
        ) as span:
            recorded: dict[str, list[str]] = {}
            recording = span.is_recording()  # a span the sampler dropped records nothing
            try:
                await self._connect(inst)
                count = 0
                samples = inst.connector.read() if device is None else inst.connector.poll(device)
                async for sample in samples:
                    if recording and isinstance(sample, Reading | ReadingBatch):
                        values = recorded.get(sample.device)
                        if values is None:
                            values = recorded[sample.device] = []
                        values.append(self._span_values(sample))
                    count += self._sample(inst, sample, seen, failed)
                self.readings.add(count, {"instance": name})
            except Exception as exc:  # a plugin's bug must not end its supervision
                reason = self._connector_failed(inst, exc)
                failed[name if device is None else device] = reason
                span.set_status(Status(StatusCode.ERROR, reason))
            # One string per device: the SDK's encoder walks array attributes element by
            # element, which made span export the largest cost per reading.
            for key, values in recorded.items():
                span.add_event("readings", {"device": key, "values": " ".join(values)})
            for key in seen | set(failed):
                self._device_state(inst, key, key not in failed, failed.get(key, ""))
            if failed:
                self.errors.add(len(failed), {"instance": name})
                span.set_attribute("failed_devices", sorted(failed))
        self.poll_duration.record(time.monotonic() - started, labels)
        answered = bool(seen - set(failed))
        if answered:
            inst.traceback_logged = False
        return answered

    def _span_values(self, sample: Reading | ReadingBatch) -> str:
        """Return a sample's values as the poll span records them: ``metric=value ...``."""
        if isinstance(sample, Reading):
            return f"{sample.metric}={sample.value}"
        metrics = sample.metrics
        hit = self.span_templates.get(id(metrics))
        if hit is None or hit[0] is not metrics or len(metrics) != len(sample.values):
            if len(self.span_templates) >= ATTRIBUTE_SETS_CACHED:
                self.span_templates.clear()
            template = " ".join(f"{name.replace('%', '%%')}=%s" for name, _unit in metrics)
            hit = self.span_templates[id(metrics)] = (metrics, template)
        try:
            return hit[1] % tuple(sample.values)
        except TypeError:  # values and metrics differ in number: the batch itself raises later
            return ""

    async def _wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds)

    async def _supervise(
        self, inst: Instance, device: str | None = None, interval_s: float | None = None
    ) -> None:
        """Poll one device (or the whole connector) on its interval, backing off on failure."""
        cfg = self.config.collector
        interval = inst.config.poll_interval_s if interval_s is None else interval_s
        delay = cfg.backoff_initial_s
        while not self.stopping.is_set():
            started = time.monotonic()
            if await self._poll_once(inst, device):
                delay = cfg.backoff_initial_s
                wait = interval - (time.monotonic() - started)
            else:
                wait = delay * random.uniform(0.5, 1.0)
                delay = min(delay * 2, cfg.backoff_max_s)
            if wait > 0:
                await self._wait(wait)
            else:
                await asyncio.sleep(0)  # a poll slower than its interval still yields the loop

    async def _stream(self, inst: Instance) -> None:
        """Drive a push connector: connect, take samples as they come, reconnect with backoff.

        Health is kept per message: a reading marks its device up, an ERROR event marks it
        down, and a lost connection marks the instance itself down until it is back.
        """
        cfg = self.config.collector
        name = inst.config.name
        delay = cfg.backoff_initial_s
        while not self.stopping.is_set():
            try:
                with self.tracer.start_as_current_span(
                    "connect", attributes={"instance": name, "connector": inst.config.type}
                ):
                    await self._connect(inst)
                async for sample in inst.connector.read():
                    seen: set[str] = set()
                    errors: dict[str, str] = {}
                    count = self._sample(inst, sample, seen, errors)
                    if count:
                        self.readings.add(count, {"instance": name})
                    for device in seen:
                        self._device_state(inst, device, True)
                    for device, reason in errors.items():
                        self._device_state(inst, device, False, reason)
                        self.errors.add(1, {"instance": name})
                    delay = cfg.backoff_initial_s
                if self.stopping.is_set():
                    return
                raise SentioError(f"{name}: the connector's stream ended")
            except Exception as exc:  # a plugin's bug must not end its supervision
                reason = self._connector_failed(inst, exc)
                self._device_state(inst, name, False, reason)
                self.errors.add(1, {"instance": name})
            await self._close(inst)
            await self._wait(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, cfg.backoff_max_s)

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

    def _backend(self, down: bool, detail: object = "") -> None:
        if down and not self.backend_down:
            log.error(
                "metrics backend not accepting, spooling readings to disk: %s", redact(str(detail))
            )
        elif not down and self.backend_down:
            log.info("metrics backend accepts readings again; replaying the spool")
        self.backend_down = down

    async def _on_spool(self, call: Callable[..., T], *args: Any) -> T:
        """Run a spool operation on the spool's own thread: disk I/O stays off the loop."""
        return await asyncio.get_running_loop().run_in_executor(self._spool_thread, call, *args)

    async def _to_spool(self, body: bytes, readings: int) -> None:
        await self._on_spool(self.spool.append, body)
        self.spooled += readings
        self.replay_wanted.set()

    async def _replay(self, pusher: MetricsPusher) -> None:
        """Send spooled requests oldest first, on a timer of its own with backoff on failure.

        The export path never waits for this: while the backend is down or the spool holds
        anything, new batches go straight to the spool behind what waits there.
        """
        cfg = self.config.collector
        delay = cfg.backoff_initial_s
        while not self.stopping.is_set():
            body = await self._on_spool(self.spool.peek)
            if body is None:
                self.backend_down = False if not len(self.spool) else self.backend_down
                self.replay_wanted.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.replay_wanted.wait(), timeout=delay)
                continue
            try:
                await pusher.push(body)
            except ExportError as exc:
                if exc.retryable:
                    self._backend(True, exc)
                    await self._wait(delay * random.uniform(0.5, 1.0))
                    delay = min(delay * 2, cfg.backoff_max_s)
                    continue
                log.error("dropped a spooled request the backend refused: %s", exc)
                self.refused += 1
            await self._on_spool(self.spool.ack)
            delay = cfg.backoff_initial_s
            self._backend(False)

    async def _export(self, pusher: MetricsPusher) -> None:
        """Send queued requests in order; what the backend does not take goes to disk."""
        cfg = self.config.collector
        while True:
            if not self.requests:
                self._seal()
            if self.requests:
                body, count = self.requests.popleft()
                self.queued -= count
                if self.backend_down or len(self.spool):
                    await self._to_spool(body, count)  # behind what waits already
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
            if self.stopping.is_set():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), timeout=cfg.flush_interval_s)

    async def _close(self, inst: Instance) -> None:
        """Close a connector; one that raises is logged and never stops the shutdown."""
        try:
            await inst.connector.close()
        except Exception as exc:  # a plugin's bug must not skip the final flush
            level = logging.WARNING if isinstance(exc, SentioError) else logging.ERROR
            log.log(level, "connector %s failed to close: %s", inst.config.name, redact(repr(exc)))

    async def _keep_running(self, name: str, body: Callable[[], Awaitable[None]]) -> None:
        """Run ``body`` until it returns; restart it with backoff when it dies unexpectedly."""
        cfg = self.config.collector
        delay = cfg.backoff_initial_s
        while True:
            try:
                await body()
                return
            except Exception:
                self.restarts += 1
                log.exception("%s died of an unexpected error; restarting it", name)
            if self.stopping.is_set():
                return
            await self._wait(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, cfg.backoff_max_s)

    def _task(self, name: str, body: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        return asyncio.create_task(self._keep_running(name, body), name=name)

    async def run(self) -> None:
        """Run every connector, the exporter and the replay until ``stopping``, then flush."""
        try:
            async with aiohttp.ClientSession() as session:
                exporter = self.config.telemetry.metrics
                pusher = MetricsPusher(session, self.config.endpoint("metrics"), exporter)
                tasks = [task for inst in self.instances for task in self._tasks(inst)]
                export = self._task("export", lambda: self._export(pusher))
                replay = self._task("replay", lambda: self._replay(pusher))
                try:
                    await self.stopping.wait()
                finally:
                    self.stopping.set()
                    self.replay_wanted.set()
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    for inst in self.instances:
                        await self._close(inst)
                    try:
                        await export
                    finally:
                        # an unacknowledged record stays on disk for the next start
                        replay.cancel()
                        await asyncio.gather(replay, return_exceptions=True)
        finally:
            self._spool_thread.shutdown(wait=True)
