"""The collector's poll spans in the real Jaeger; its device log in VictoriaLogs links to them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from pydantic import BaseModel
from sentio.collectors.runtime import Collector, Instance
from sentio.connectors.contract import Connector, DeviceSchedule, ReadingBatch, Sample

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.stack.probe import poll
from sentio.stack.query import Backends, logsql
from sentio.telemetry import setup

METRICS = (("voltage", "V"), ("current", "A"))


class Empty(BaseModel):
    pass


class Meters(Connector[Empty]):
    """``meter-<run>`` answers; ``broken-<run>`` raises on every poll."""

    config_model = Empty

    def __init__(self, run: str) -> None:
        super().__init__(Empty())
        self.good, self.bad = f"meter-{run}", f"broken-{run}"
        self.polls = {self.good: 0, self.bad: 0}

    async def connect(self) -> None:
        pass

    async def read(self) -> AsyncIterator[Sample]:
        raise AssertionError("polled through poll()")
        yield  # pragma: no cover

    async def close(self) -> None:
        pass

    def devices(self) -> Sequence[DeviceSchedule]:
        return [DeviceSchedule(self.good, 0.05), DeviceSchedule(self.bad, 0.05)]

    async def poll(self, device: str) -> AsyncIterator[Sample]:
        self.polls[device] += 1
        await asyncio.sleep(0)
        if device == self.bad:
            raise OSError(f"{device}: no route to host")
        yield ReadingBatch(device, METRICS, [230.5, 1.25])


async def _traces(
    session: aiohttp.ClientSession, jaeger: str, service: str, tags: dict[str, str]
) -> list[dict[str, Any]] | None:
    params = {"service": service, "operation": "poll", "tags": json.dumps(tags), "limit": "20",
              "lookback": "1h"}  # fmt: skip
    async with session.get(f"{jaeger}/api/traces", params=params) as resp:
        if resp.status != 200:
            return None
        data: list[dict[str, Any]] = (await resp.json())["data"]
        return data or None


async def test_poll_spans_reach_jaeger_and_the_down_log_opens_the_failing_polls_trace(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    config = stack_config_live.model_copy(
        update={"collector": stack_config_live.collector.model_copy(update={"spool_dir": tmp_path})}
    )
    run = uuid.uuid4().hex[:8]
    telemetry = setup(config, **{"sentio.component": "collector"})
    telemetry.attach("sentio.collector")
    collector = Collector(config, telemetry)
    connector = Meters(run)
    inst = Instance(ConnectorInstanceConfig(name=f"spans-{run}", type="fake"), connector)
    collector.instances.append(inst)
    tasks = collector._tasks(inst)
    try:
        deadline = time.monotonic() + 30
        while min(connector.polls.values()) < 3:
            assert time.monotonic() < deadline, f"not polled in time: {connector.polls}"
            await asyncio.sleep(0.05)
    finally:
        collector.stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert await asyncio.to_thread(telemetry.flush)
        await asyncio.to_thread(telemetry.shutdown)
    urls = Backends(config.stack)
    service = config.service.name
    async with aiohttp.ClientSession() as session:
        good = await poll(
            lambda: _traces(session, urls.jaeger, service, {"device": connector.good}), 60,
            "the answering meter's poll spans in Jaeger",
        )  # fmt: skip
        span = good[0]["spans"][0]
        tags = {t["key"]: t["value"] for t in span["tags"]}
        assert tags["instance"] == f"spans-{run}" and tags["connector"] == "fake"
        fields = {f["key"]: f["value"] for f in span["logs"][0]["fields"]}
        assert fields == {"event": "readings", "device": connector.good,
                          "values": "voltage=230.5 current=1.25"}  # fmt: skip

        async def down_log() -> list[dict[str, Any]] | None:
            query = f'device:="{connector.bad}" "is down"'
            return await logsql(session, urls.vl, query) or None

        (record,) = await poll(down_log, 60, "the 'device is down' record in VictoriaLogs")
        assert record["trace_id"], record
        failed = await poll(
            lambda: _traces(session, urls.jaeger, service, {"device": connector.bad}), 60,
            "the failing device's poll spans in Jaeger",
        )  # fmt: skip
    # The down record carries the trace of the poll that failed: Grafana's link opens it.
    by_trace = {t["traceID"]: t["spans"][0] for t in failed}
    assert record["trace_id"] in by_trace, (record["trace_id"], sorted(by_trace))
    tags = {t["key"]: t["value"] for t in by_trace[record["trace_id"]]["tags"]}
    assert tags["otel.status_code"] == "ERROR"
    assert "no route to host" in tags["otel.status_description"]
    assert connector.bad in str(tags["failed_devices"])
