"""A metric, a log and a span sent through Sentio's telemetry, read back from the backends."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp

from sentio.config import SentioConfig
from sentio.stack.probe import Probe
from sentio.telemetry import setup


def _span_names(trace: dict[str, Any]) -> list[str]:
    batches = trace.get("batches") or trace.get("resourceSpans") or []
    names = []
    for batch in batches:
        for scope in batch.get("scopeSpans") or batch.get("instrumentationLibrarySpans") or []:
            names += [span["name"] for span in scope["spans"]]
    return names


def _resource_attrs(trace: dict[str, Any]) -> dict[str, Any]:
    batches = trace.get("batches") or trace.get("resourceSpans") or []
    attrs = {}
    for attr in batches[0]["resource"]["attributes"]:
        attrs[attr["key"]] = next(iter(attr["value"].values()))
    return attrs


async def test_metric_log_and_span_round_trip(stack_config_live: SentioConfig) -> None:
    config = stack_config_live
    telemetry = setup(config)
    try:
        probe = Probe(config, telemetry, timeout_s=60)
        async with aiohttp.ClientSession() as session:
            sample = await probe.run(session, "e2e-1", 42.5)
    finally:
        await asyncio.to_thread(telemetry.shutdown)

    labels = sample.metric["metric"]
    assert labels["__name__"] == "sentio_probe_sequence"
    assert labels["probe_run"] == probe.run_id
    assert labels["service_name"] == config.service.name
    assert labels["service_instance_id"] == "test-1"
    assert float(sample.metric["value"][1]) == 42.5

    stream = sample.log["stream"]
    assert stream["service_name"] == config.service.name
    assert stream["trace_id"] == sample.trace_id
    assert len(sample.log["values"]) == 1
    assert sample.log["values"][0][1] == "probe e2e-1"

    assert _span_names(sample.trace) == ["probe"]
    resource = _resource_attrs(sample.trace)
    assert resource["service.name"] == config.service.name
    assert resource["service.instance.id"] == "test-1"
    trace_ids = [
        span["traceId"]
        for batch in sample.trace.get("batches") or sample.trace.get("resourceSpans") or []
        for scope in batch["scopeSpans"]
        for span in scope["spans"]
    ]
    assert {base64.b64decode(t).hex() if len(t) != 32 else t for t in trace_ids} == {
        sample.trace_id
    }
