"""The collector under faults: a connector that fails to close, a dying task, a full queue, 4xx."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel
from sentio.collectors.runtime import Collector, Instance
from sentio.connectors.contract import Connector, Reading, Sample

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.errors import SentioError
from sentio.telemetry import Telemetry
from tests.unit.collectors.queued import queued
from tests.unit.collectors.receiver import receiver

DEADLINE_S = 10.0


class Empty(BaseModel):
    pass


class Meter(Connector[Empty]):
    """Ten readings per poll; ``close`` raises an error no connector should raise."""

    config_model = Empty

    def __init__(self) -> None:
        super().__init__(Empty())
        self.polls = 0

    async def connect(self) -> None:
        pass

    async def read(self) -> AsyncIterator[Sample]:
        self.polls += 1
        for i in range(10):
            yield Reading("meter", f"m{i}", float(self.polls))

    async def close(self) -> None:
        raise RuntimeError("a bug in close()")


class Flaky(Connector[Empty]):
    """A push connector: the first session breaks and its close raises; the second streams."""

    config_model = Empty
    push = True

    def __init__(self) -> None:
        super().__init__(Empty())
        self.sessions = 0
        self.closes = 0
        self.release = asyncio.Event()

    async def connect(self) -> None:
        self.sessions += 1

    async def read(self) -> AsyncIterator[Sample]:
        if self.sessions == 1:
            raise SentioError("connection lost")
        yield Reading("sensor", "temperature", 20.0)
        await self.release.wait()

    async def close(self) -> None:
        self.closes += 1
        self.release.set()
        if self.closes == 1:
            raise RuntimeError("a bug in close()")


def _collector(
    tmp_path: Path, url: str = "http://127.0.0.1:9/v1/metrics", **collector: Any
) -> tuple[Collector, InMemoryMetricReader]:
    config = SentioConfig.model_validate(
        {
            "stack": {"data_dir": str(tmp_path)},
            "telemetry": {"metrics": {"endpoint": url, "timeout_s": 2}},
            "collector": {
                "flush_interval_s": 0.05, "backoff_initial_s": 0.05, "backoff_max_s": 0.1,
                "spool_fsync": False, **collector,
            },
        }
    )  # fmt: skip
    reader = InMemoryMetricReader()
    telemetry = Telemetry(
        Resource.create({}), MeterProvider(metric_readers=[reader]), TracerProvider(),
        LoggerProvider(),
    )  # fmt: skip
    return Collector(config, telemetry), reader


def _add(collector: Collector, connector: Connector[Empty], name: str, **extra: Any) -> Instance:
    inst = Instance(
        ConnectorInstanceConfig(name=name, type="fake", poll_interval_s=0.01, **extra), connector
    )
    collector.instances.append(inst)
    return inst


async def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def _sum(reader: InMemoryMetricReader, name: str) -> float:
    data = reader.get_metrics_data()
    assert data is not None
    return sum(
        point.value
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points  # type: ignore[union-attr]
    )


async def test_a_close_that_raises_does_not_skip_the_final_flush(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with receiver() as got:
        collector, _ = _collector(tmp_path, got.url, flush_interval_s=3600)
        _add(collector, Meter(), "meter")
        run = asyncio.create_task(collector.run())
        await _until(lambda: collector.accepted >= 50)
        collector.stopping.set()
        await asyncio.wait_for(run, DEADLINE_S)
    assert collector.sent == collector.accepted
    assert got.points == collector.accepted, "the final flush sent what was queued"
    assert "connector meter failed to close" in caplog.text


async def test_a_stream_whose_close_raises_is_reconnected(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector, _ = _collector(tmp_path)
    connector = Flaky()
    inst = _add(collector, connector, "zigbee")
    tasks = collector._tasks(inst)
    try:
        await _until(lambda: "sensor" in inst.devices and inst.devices["sensor"].up)
        assert connector.sessions == 2
        assert not tasks[0].done()
    finally:
        collector.stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await collector._close(inst)
        collector._spool_thread.shutdown()
    assert "connector zigbee failed to close" in caplog.text


async def test_a_task_that_dies_unexpectedly_is_restarted_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector, _ = _collector(tmp_path)
    calls = 0

    async def body() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KeyError("a bug")

    await asyncio.wait_for(collector._keep_running("stream x", body), DEADLINE_S)
    assert calls == 2 and collector.restarts == 1
    assert "stream x died of an unexpected error; restarting it" in caplog.text
    assert "KeyError" in caplog.text


def test_queue_overflow_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    collector, reader = _collector(tmp_path, queue_limit=10)
    inst = _add(collector, Meter(), "meter")
    for i in range(25):
        collector._enqueue(inst, Reading("meter", "m", float(i)))
    # requests are dropped whole: two of ten went, the newest five wait
    assert collector.queued <= 10
    assert [p.value for p in queued(collector)] == [float(i) for i in range(20, 25)]
    assert collector.dropped == 20 and collector.accepted == 25
    assert _sum(reader, "sentio.collector.queue.dropped") == 20


async def test_a_slow_backend_holds_the_polls_back_and_drops_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with receiver() as got:
        got.delay_s = 0.1  # 10 readings a request: 100 a second, a tenth of what is read
        collector, reader = _collector(tmp_path, got.url, queue_limit=40, max_batch=10)
        meter = Meter()
        _add(collector, meter, "meter")
        run = asyncio.create_task(collector.run())
        try:
            await _until(lambda: collector.queue.pauses >= 3)
        finally:
            collector.stopping.set()
            await asyncio.wait_for(run, DEADLINE_S)
    assert collector.dropped == 0 and collector.queue.dropped_requests == 0
    assert collector.queued == 0 and got.points == collector.accepted == 10 * meter.polls
    assert collector.missed_polls.get("meter", 0) > 0, "the overload shows as late polls"
    assert _sum(reader, "sentio.collector.queue.paused") == collector.queue.pauses
    assert "the export is behind: " in caplog.text and "polls wait" in caplog.text


def test_a_failing_spool_lets_the_polls_go_on_and_the_limit_drops(tmp_path: Path) -> None:
    collector, _ = _collector(tmp_path, queue_limit=40, max_batch=10)
    queue = collector.queue
    inst = _add(collector, Meter(), "meter")
    for i in range(20):
        collector._enqueue(inst, Reading("meter", "m", float(i)))
    assert not queue.room.is_set() and queue.pauses == 1, "past half of the limit: hold back"
    queue.hold(False)  # what the exporter does while the spool cannot be written
    assert queue.room.is_set()
    for i in range(40):
        collector._enqueue(inst, Reading("meter", "m", float(i)))
    assert queue.room.is_set() and collector.dropped == 20 and collector.queued == 40
    queue.hold(True)
    assert not queue.room.is_set() and queue.pauses == 2
    while collector.queued > 10:
        queue.take()
    assert queue.room.is_set(), "drained to a quarter of the limit, the polls go on"


async def test_a_non_retryable_4xx_drops_the_batch_and_counts_it(tmp_path: Path) -> None:
    async with receiver(status=400) as got:
        collector, reader = _collector(tmp_path, got.url)
        _add(collector, Meter(), "meter")
        run = asyncio.create_task(collector.run())
        try:
            await _until(lambda: collector.refused >= 2)
        finally:
            collector.stopping.set()
            await asyncio.wait_for(run, DEADLINE_S)
    assert collector.refused_readings == collector.accepted
    assert collector.sent == 0
    assert len(collector.spool) == 0, "a 4xx is not retried"
    # exported, for SentioReadingsRefused, not only counted inside the process
    assert _sum(reader, "sentio.collector.export.refused_requests") == collector.refused
    assert _sum(reader, "sentio.collector.export.refused_readings") == collector.accepted


async def test_a_spooled_request_refused_on_replay_counts_its_readings(tmp_path: Path) -> None:
    async with receiver(status=503) as got:
        collector, reader = _collector(tmp_path, got.url)
        _add(collector, Meter(), "meter")
        run = asyncio.create_task(collector.run())
        try:
            await _until(lambda: len(collector.spool) >= 2)
            got.status = 400  # the backend comes back and refuses what waited for it
            await _until(lambda: collector.refused >= 2)
        finally:
            collector.stopping.set()
            await asyncio.wait_for(run, DEADLINE_S)
    assert collector.refused_readings >= 20, "10 readings a request"
    assert _sum(reader, "sentio.collector.export.refused_readings") == collector.refused_readings


async def test_a_5xx_goes_to_the_spool_and_is_replayed_when_the_backend_answers(
    tmp_path: Path,
) -> None:
    async with receiver(status=503) as got:
        collector, _ = _collector(tmp_path, got.url)
        _add(collector, Meter(), "meter")
        run = asyncio.create_task(collector.run())
        try:
            await _until(lambda: len(collector.spool) >= 3)
            assert collector.backend_down and collector.refused == 0
            got.status = 200
            # every spooled request must be replayed before the stop, or it stays on disk
            await _until(lambda: not collector.backend_down and len(collector.spool) == 0)
            assert collector.spool.replayed >= 3
        finally:
            collector.stopping.set()
            await asyncio.wait_for(run, DEADLINE_S)
    assert collector.spooled > 0
    assert got.points >= collector.spooled


def test_on_change_sends_a_changed_value_and_an_unchanged_one_every_heartbeat(
    tmp_path: Path,
) -> None:
    collector, _ = _collector(tmp_path)
    inst = _add(collector, Meter(), "meter", report={"mode": "on_change", "heartbeat_s": 10})
    sent = []
    for t, value in [(0, 1.0), (1, 1.0), (2, 2.0), (5, 2.0), (11.9, 2.0), (12, 2.0), (13, 2.0)]:
        reading = Reading("meter", "m", value, timestamp_ns=int((1000 + t) * 1e9))
        if collector._accept(inst, reading):
            sent.append((t, value))
    assert sent == [(0, 1.0), (2, 2.0), (12, 2.0)]


class Hung(Connector[Empty]):
    """A plugin whose poll yields once, then never returns, and whose close never returns."""

    config_model = Empty

    def __init__(self) -> None:
        super().__init__(Empty())
        self.polls = 0

    async def connect(self) -> None:
        pass

    async def read(self) -> AsyncIterator[Sample]:
        self.polls += 1
        if self.polls == 1:
            yield Reading("stuck", "m", 1.0)
            return
        await asyncio.Event().wait()
        yield Reading("stuck", "m", 2.0)  # never reached

    async def close(self) -> None:
        await asyncio.Event().wait()


async def test_a_hung_poll_marks_the_device_down_and_a_hung_close_does_not_block_the_stop(
    tmp_path: Path,
) -> None:
    collector, _ = _collector(tmp_path, call_timeout_s=0.5, close_timeout_s=0.5)
    inst = _add(collector, Hung(), "hung")
    _add(collector, Meter(), "meter")
    run = asyncio.create_task(collector.run())
    try:
        await _until(lambda: "stuck" in inst.devices and inst.devices["stuck"].up)
        went_up = time.monotonic()
        await _until(lambda: not inst.devices["hung"].up if "hung" in inst.devices else False)
        assert time.monotonic() - went_up < 0.5 + 1.0, "detected at the poll's deadline"
        healthy = collector.accepted_by_device["meter"]
        await _until(lambda: collector.accepted_by_device["meter"] > healthy + 10)
    finally:
        collector.stopping.set()
        stopped = time.monotonic()
        await asyncio.wait_for(run, DEADLINE_S)
    assert time.monotonic() - stopped < 3, "the hung close is abandoned after close_timeout_s"
