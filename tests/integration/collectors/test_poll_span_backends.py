"""The collector's poll spans in the real Jaeger; its device log in VictoriaLogs links to them."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from sentio.collectors.runtime import Collector, Instance

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.stack.probe import poll
from sentio.stack.query import Backends, logsql
from sentio.telemetry import setup
from tests.unit.collectors.meters import Meters


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
    connector = Meters(f"meter-{run}", f"broken-{run}", interval_s=0.05)
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
        # the poll running when the test stopped the tasks was cancelled: a span, no readings
        span = next(s for t in good for s in t["spans"] if s["logs"])
        tags = {t["key"]: t["value"] for t in span["tags"]}
        assert tags["instance"] == f"spans-{run}" and tags["connector"] == "fake"
        fields = {f["key"]: f["value"] for f in span["logs"][0]["fields"]}
        assert fields == {"event": "readings", "device": connector.good,
                          "values": "voltage=230.5 current=1.25 state=on"}  # fmt: skip

        async def down_log() -> list[dict[str, Any]] | None:
            query = f'device:="{connector.bad}" "is down"'
            return await logsql(session, urls.vl, query) or None

        (record,) = await poll(down_log, 60, "the 'device is down' record in VictoriaLogs")
        assert record["trace_id"], record

        async def down_trace() -> dict[str, Any] | None:
            url = f"{urls.jaeger}/api/traces/{record['trace_id']}"
            async with session.get(url) as resp:
                if resp.status != 200:
                    return None
                data: list[dict[str, Any]] = (await resp.json())["data"]
                return data[0] if data else None

        # The down record carries the trace of the poll that failed: Grafana's link opens it.
        trace = await poll(down_trace, 60, "the trace the 'device is down' record names")
    (span,) = trace["spans"]
    tags = {t["key"]: t["value"] for t in span["tags"]}
    assert span["operationName"] == "poll" and tags["device"] == connector.bad
    assert tags["otel.status_code"] == "ERROR"
    assert "no route to host" in tags["otel.status_description"]
    assert connector.bad in str(tags["failed_devices"])
