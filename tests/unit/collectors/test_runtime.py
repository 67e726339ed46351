"""The collector's scheduling with in-memory connectors: per-device tasks and push streams."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path

from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import BaseModel
from sentio.collectors.runtime import Collector, Instance
from sentio.connectors.contract import (
    Connector,
    DeviceSchedule,
    Event,
    Reading,
    Sample,
    Severity,
)

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.errors import SentioError
from sentio.telemetry import Telemetry
from tests.unit.collectors.queued import queued

DEADLINE_S = 10.0


class Empty(BaseModel):
    pass


class Devices(Connector[Empty]):
    """Two devices: ``fast`` answers at once, ``slow`` takes a second per poll."""

    config_model = Empty

    def __init__(self) -> None:
        super().__init__(Empty())
        self.polls = {"fast": 0, "slow": 0}
        self.connects = 0

    async def connect(self) -> None:
        self.connects += 1
        await asyncio.sleep(0)

    async def read(self) -> AsyncIterator[Sample]:
        raise AssertionError("a connector with devices() is polled through poll()")
        yield  # pragma: no cover

    async def close(self) -> None:
        pass

    def devices(self) -> Sequence[DeviceSchedule]:
        return [DeviceSchedule("fast", 0.01), DeviceSchedule("slow", 0.01)]

    async def poll(self, device: str) -> AsyncIterator[Sample]:
        if device == "slow":
            await asyncio.sleep(1.0)
        self.polls[device] += 1
        yield Reading(device, "value", float(self.polls[device]))


class Stream(Connector[Empty]):
    """A push connector whose first stream breaks after a reading and an ERROR event."""

    config_model = Empty
    push = True

    def __init__(self) -> None:
        super().__init__(Empty())
        self.sessions = 0
        self.closed = 0
        self.release = asyncio.Event()

    async def connect(self) -> None:
        self.sessions += 1
        self.release = asyncio.Event()

    async def read(self) -> AsyncIterator[Sample]:
        if self.sessions == 1:
            yield Reading("sensor-a", "temperature", 21.5)
            yield Event("sensor-b", "sensor-b: payload rejected", Severity.ERROR)
            raise SentioError("broker went away")
        yield Reading("sensor-b", "temperature", 19.0)
        await self.release.wait()

    async def close(self) -> None:
        self.closed += 1
        self.release.set()


def _collector(tmp_path: Path) -> tuple[Collector, InMemorySpanExporter]:
    config = SentioConfig.model_validate(
        {
            "stack": {"data_dir": str(tmp_path)},
            "collector": {"backoff_initial_s": 0.05, "backoff_max_s": 0.1},
        }
    )
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(Resource.create({}), MeterProvider(), tracer_provider, LoggerProvider())
    return Collector(config, telemetry), spans


def _instance(collector: Collector, connector: Connector[Empty], name: str) -> Instance:
    inst = Instance(ConnectorInstanceConfig(name=name, type="fake"), connector)
    collector.instances.append(inst)
    return inst


async def _until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _stop(collector: Collector, tasks: list[asyncio.Task[None]]) -> None:
    collector.stopping.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for inst in collector.instances:
        await inst.connector.close()


async def test_each_device_has_its_own_task_so_a_slow_one_delays_no_other(tmp_path: Path) -> None:
    collector, spans = _collector(tmp_path)
    connector = Devices()
    inst = _instance(collector, connector, "plant")
    tasks = collector._tasks(inst)
    assert sorted(t.get_name() for t in tasks) == ["poll plant/fast", "poll plant/slow"]
    try:
        await _until(lambda: connector.polls["fast"] >= 10)
        assert connector.polls["slow"] <= 1, connector.polls
        assert connector.connects == 1, "device tasks share one connection"
        assert inst.devices["fast"].up
    finally:
        await _stop(collector, tasks)
    fast = [s for s in spans.get_finished_spans() if s.attributes["device"] == "fast"]
    assert fast, "every poll of a device is a span"
    event = fast[-1].events[0]
    assert event.name == "readings"
    assert event.attributes["device"] == "fast"
    assert event.attributes["values"].startswith("value=")
    assert float(event.attributes["values"].partition("=")[2]) >= 1.0


async def test_a_push_stream_keeps_health_per_message_and_reconnects(tmp_path: Path) -> None:
    collector, _spans = _collector(tmp_path)
    connector = Stream()
    inst = _instance(collector, connector, "zigbee")
    tasks = collector._tasks(inst)
    assert [t.get_name() for t in tasks] == ["stream zigbee"]
    try:
        await _until(lambda: "sensor-b" in inst.devices and inst.devices["sensor-b"].up)
        assert inst.devices["sensor-a"].up
        assert inst.devices["zigbee"].up, "the instance is up again after reconnecting"
        assert connector.closed >= 1, "a broken stream is closed before reconnecting"
        assert sorted(p.value for p in queued(collector)) == [19.0, 21.5]
    finally:
        await _stop(collector, tasks)
