"""A metric, a log and a span sent through Sentio's telemetry, read back from the backends."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from sentio.config import SentioConfig
from sentio.stack.probe import PROBE_DEVICE, Probe, poll
from sentio.stack.query import Backends, logsql
from sentio.telemetry import setup


def _tags(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {tag["key"]: tag["value"] for tag in items}


async def test_metric_log_and_span_round_trip(stack_config_live: SentioConfig) -> None:
    config = stack_config_live
    telemetry = setup(config)
    try:
        probe = Probe(config, telemetry, timeout_s=60)
        async with aiohttp.ClientSession() as session:
            sample = await probe.run(session, "e2e-1", 42.5)
            urls = Backends(config.stack)
            by_device = await poll(
                lambda: _nonempty(logsql(session, urls.vl, f'device:="{PROBE_DEVICE}" "e2e-1"')),
                30,
                "the probe's log record by device",
            )
            async with session.get(f"{urls.jaeger}/api/v3/traces/{sample.trace_id}") as resp:
                assert resp.status == 200, await resp.text()
                v3 = await resp.json(content_type=None)
    finally:
        await asyncio.to_thread(telemetry.shutdown)

    labels = sample.metric["metric"]
    assert labels["__name__"] == "sentio_probe_sequence"
    assert labels["probe_run"] == probe.run_id
    assert labels["service_name"] == config.service.name
    assert labels["service_instance_id"] == "test-1"
    assert float(sample.metric["value"][1]) == 42.5

    log = sample.log
    assert log["_msg"] == "probe e2e-1"
    assert log["trace_id"] == sample.trace_id
    assert log["service.name"] == config.service.name
    assert log["service.instance.id"] == "test-1"
    assert log["severity_text"] == "INFO"
    assert log["severity_number"] == "9"
    assert log["device"] == PROBE_DEVICE
    assert log["probe.sample"] == "e2e-1"
    # a stream per service and host, not per process start (see stack.victorialogs.stream_fields)
    assert log["_stream"] == (
        f'{{host.name="{log["host.name"]}",service.name="{config.service.name}"}}'
    )
    assert [entry["trace_id"] for entry in by_device] == [sample.trace_id]

    trace = sample.trace
    assert trace["traceID"] == sample.trace_id
    spans = trace["spans"]
    assert [span["operationName"] for span in spans] == ["probe"]
    assert _tags(spans[0]["tags"])["probe.sample"] == "e2e-1"
    assert _tags(spans[0]["tags"])["device"] == PROBE_DEVICE
    process = trace["processes"][spans[0]["processID"]]
    assert process["serviceName"] == config.service.name
    assert _tags(process["tags"])["service.instance.id"] == "test-1"

    resource_spans = v3["result"]["resourceSpans"]
    names = [s["name"] for rs in resource_spans for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert names == ["probe"]


async def _nonempty(query: Any) -> list[dict[str, Any]] | None:
    return (await query) or None
