"""A poll span framed by sentio.otlp_traces lands in the real Jaeger whole."""

from __future__ import annotations

import time
from typing import Any

import requests

from sentio.config import SentioConfig
from sentio.telemetry import setup


def _trace(config: SentioConfig, trace_id: str) -> dict[str, Any] | None:
    resp = requests.get(f"{config.stack.url('jaeger')}/api/traces/{trace_id}", timeout=10)
    if resp.status_code == 404:
        return None
    resp.raise_for_status()
    data = resp.json()["data"]
    return data[0] if data else None


def test_a_poll_span_lands_in_jaeger_with_its_attributes_and_readings(
    stack_config_live: SentioConfig,
) -> None:
    telemetry = setup(stack_config_live, **{"sentio.component": "collector"})
    tracer = telemetry.tracer_provider.get_tracer("sentio.collector")
    values = " ".join(f"f{i}={230.0 + i / 3}" for i in range(100))
    labels = {"instance": "spans-0", "connector": "modbus", "device": "meter-1"}
    with tracer.start_as_current_span("poll", attributes=labels) as span:
        span.add_event("readings", {"device": "meter-1", "values": values})
        span.set_attribute("failed_devices", ["meter-2"])
        trace_id = f"{span.get_span_context().trace_id:032x}"
    assert telemetry.flush()
    telemetry.shutdown()
    deadline = time.monotonic() + 60
    trace = _trace(stack_config_live, trace_id)
    while trace is None and time.monotonic() < deadline:
        time.sleep(0.5)
        trace = _trace(stack_config_live, trace_id)
    assert trace is not None, f"trace {trace_id} never reached Jaeger"
    (got,) = trace["spans"]
    assert got["operationName"] == "poll"
    tags = {t["key"]: t["value"] for t in got["tags"]}
    assert {k: tags[k] for k in labels} == labels
    assert "meter-2" in str(tags["failed_devices"])
    (log,) = got["logs"]
    fields = {f["key"]: f["value"] for f in log["fields"]}
    assert fields["values"] == values and fields["device"] == "meter-1"
    process = trace["processes"][got["processID"]]
    assert process["serviceName"] == stack_config_live.service.name
