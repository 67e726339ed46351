"""One heartbeat: a connector that reports only changes has its unchanged values sent again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel
from sentio.connectors.contract import Connector, Event, Reading, Sample

from tests.unit.collectors.queued import queued
from tests.unit.collectors.test_runtime_faults import _add, _collector, _until


class Empty(BaseModel):
    pass


class Changes(Connector[Empty]):
    """Pushes two values once, then a removal of one device when told to, then nothing."""

    config_model = Empty
    push = True

    def __init__(self, changes_only: bool) -> None:
        super().__init__(Empty())
        self.changes_only = changes_only
        self.remove = asyncio.Event()
        self.closed = asyncio.Event()

    async def connect(self) -> None:
        pass

    async def read(self) -> AsyncIterator[Sample]:
        yield Reading("sensor.a", "temperature", 21.5, "Cel", timestamp_ns=1)
        yield Reading("sensor.b", "humidity", 40.0, "%", timestamp_ns=1)
        await self.remove.wait()
        yield Event("sensor.b", "sensor.b: removed", gone=True)
        await self.closed.wait()

    async def close(self) -> None:
        self.closed.set()


async def test_unchanged_values_are_sent_again_every_heartbeat_until_gone(tmp_path: Path) -> None:
    collector, _ = _collector(tmp_path)
    connector = Changes(changes_only=True)
    inst = _add(collector, connector, "ha", report={"heartbeat_s": 0.2})
    tasks = collector._tasks(inst)
    assert sorted(t.get_name() for t in tasks) == ["heartbeat ha", "stream ha"]
    try:
        await _until(
            lambda: sum(p.attributes["device"] == "sensor.b" for p in queued(collector)) >= 3
        )
        connector.remove.set()
        await _until(lambda: "sensor.b" not in inst.devices)
        sent_b = sum(p.attributes["device"] == "sensor.b" for p in queued(collector))
        await _until(
            lambda: sum(p.attributes["device"] == "sensor.a" for p in queued(collector)) >= 6
        )
        assert sum(p.attributes["device"] == "sensor.b" for p in queued(collector)) == sent_b
    finally:
        collector.stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await collector._close(inst)
        collector._spool_thread.shutdown()
    resent = [p for p in queued(collector) if p.attributes["device"] == "sensor.a"]
    assert resent[0].timestamp_ns == 1
    assert all(p.value == 21.5 and p.unit == "Cel" for p in resent)
    stamps = [p.timestamp_ns for p in resent[1:]]
    assert stamps == sorted(stamps) and stamps[0] > 1, "resent values are stamped when sent"


async def test_a_connector_that_reports_every_value_gets_no_heartbeat(tmp_path: Path) -> None:
    collector, _ = _collector(tmp_path)
    inst = _add(collector, Changes(changes_only=False), "mqtt", report={"heartbeat_s": 0.05})
    tasks = collector._tasks(inst)
    assert [t.get_name() for t in tasks] == ["stream mqtt"]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    collector._spool_thread.shutdown()
