"""Poll spans, started without the SDK's Span: what they export, sample and make current."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Sampler, TraceIdRatioBased
from opentelemetry.trace import StatusCode
from sentio.collectors.runtime import Collector, Instance
from sentio.collectors.spans import PollTracer

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.otlp_traces import SpanEncoder
from sentio.telemetry import Telemetry
from tests.unit.collectors.meters import Meters

DEADLINE_S = 10.0


class Traced(logging.Handler):
    """Keep each record with the span context current when it was logged."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[str, trace.SpanContext]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.getMessage(), trace.get_current_span().get_span_context()))


def _collector(
    tmp_path: Path, sampler: Sampler | None = None
) -> tuple[Collector, InMemorySpanExporter]:
    config = SentioConfig.model_validate(
        {
            "stack": {"data_dir": str(tmp_path)},
            "collector": {"backoff_initial_s": 0.01, "backoff_max_s": 0.02},
        }
    )
    spans = InMemorySpanExporter()
    resource = Resource.create({"service.name": "sentio"})
    provider = TracerProvider(resource=resource, sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(spans))
    telemetry = Telemetry(resource, MeterProvider(), provider, LoggerProvider())
    return Collector(config, telemetry), spans


async def _poll(collector: Collector, connector: Meters, until: Callable[[], bool]) -> None:
    inst = Instance(ConnectorInstanceConfig(name="plant", type="fake"), connector)
    collector.instances.append(inst)
    tasks = collector._tasks(inst)
    try:
        deadline = time.monotonic() + DEADLINE_S
        while not until():
            assert time.monotonic() < deadline, f"not polled enough in time: {connector.polls}"
            await asyncio.sleep(0.01)
    finally:
        collector.stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _by_device(spans: InMemorySpanExporter, device: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == "poll" and s.attributes
            and s.attributes.get("device") == device]  # fmt: skip


async def test_a_poll_span_carries_its_readings_its_failure_and_its_logs(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector, spans = _collector(tmp_path)
    connector = Meters()
    handler = Traced()
    logging.getLogger().addHandler(handler)
    try:
        await _poll(collector, connector, lambda: min(connector.polls.values()) >= 3)
    finally:
        logging.getLogger().removeHandler(handler)
    good, bad = _by_device(spans, "good"), _by_device(spans, "bad")
    assert good and bad, "every poll of a device is a span"
    span = good[0]
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None and span.attributes["connector"] == "fake"
    assert [(e.name, dict(e.attributes or {})) for e in span.events] == [
        ("readings", {"device": "good", "values": "voltage=230.5 current=1.25 state=on"})
    ]
    assert span.start_time is not None and span.end_time is not None
    assert span.start_time <= span.end_time
    assert span.parent is None and span.context is not None and span.context.trace_flags.sampled
    failed = bad[0]
    assert failed.status.status_code is StatusCode.ERROR
    assert "bad: no route to host" in str(failed.status.description)
    assert failed.attributes is not None and failed.attributes["failed_devices"] == ("bad",)
    assert not failed.events, "a poll that read nothing records no readings"
    # What was logged during a poll carries that poll's span, so a log line opens its trace.
    ids = {(s.context.trace_id, s.context.span_id) for s in good + bad if s.context}
    during = [c for message, c in handler.records if message.startswith("polling ")]
    assert during and all((c.trace_id, c.span_id) in ids for c in during)
    for device, its in (("good", good), ("bad", bad)):  # each device task's own poll's span
        own = {(s.context.trace_id, s.context.span_id) for s in its if s.context}
        logged = [c for message, c in handler.records if message == f"polling {device}"]
        assert logged and all((c.trace_id, c.span_id) in own for c in logged), device
    down = [c for message, c in handler.records if message.startswith("device bad is down")]
    assert down and (down[0].trace_id, down[0].span_id) in {
        (s.context.trace_id, s.context.span_id) for s in bad if s.context
    }
    assert not trace.get_current_span().get_span_context().is_valid, "no span left current"
    # The export frames them on its fast path, byte for byte as the SDK's own encoder.
    finished = list(spans.get_finished_spans())
    assert SpanEncoder().encode(finished) == encode_spans(finished).SerializePartialToString()


async def test_the_providers_sampler_decides_which_polls_are_exported(tmp_path: Path) -> None:
    collector, spans = _collector(tmp_path, ALWAYS_OFF)
    connector = Meters()
    await _poll(collector, connector, lambda: connector.polls["good"] >= 6)  # 5 done
    assert not spans.get_finished_spans(), "a sampler that drops every span exports none"
    assert collector.instances[0].readings >= 10, "polls go on unsampled"

    collector, spans = _collector(tmp_path, TraceIdRatioBased(0.5))
    connector = Meters()
    await _poll(collector, connector, lambda: connector.polls["good"] >= 200)
    kept = len(_by_device(spans, "good"))
    assert 40 < kept < connector.polls["good"] - 40, f"{kept} of {connector.polls['good']}"


async def test_a_disabled_sdk_polls_without_spans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    collector, spans = _collector(tmp_path)
    assert not collector.poll_spans.enabled
    connector = Meters()
    await _poll(collector, connector, lambda: connector.polls["good"] >= 4)  # 3 done
    assert not spans.get_finished_spans()
    assert collector.instances[0].readings >= 6, "polls go on without a tracer"


async def test_a_polls_span_is_current_only_while_it_runs_in_its_own_task() -> None:
    provider = TracerProvider()
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    tracer = PollTracer(provider.get_tracer("test"), "sentio.collector")

    def current() -> trace.SpanContext:
        return trace.get_current_span().get_span_context()

    async def child(started: asyncio.Event, seen: list[trace.SpanContext]) -> None:
        seen.append(current())  # the parent's poll: its context was copied with the slot
        span = tracer.start({"device": "child"})
        started.set()
        seen.append(current())
        await asyncio.sleep(0.01)
        span.end({}, {}, None)

    async def parent() -> None:
        span = tracer.start({"device": "parent"})
        mine = span.context
        assert current() == mine
        started, seen = asyncio.Event(), []
        task = asyncio.create_task(child(started, seen))
        await started.wait()
        assert current() == mine, "the child's poll does not replace the parent's"
        await task
        assert seen[0] == mine and seen[1] != mine and seen[1].is_valid
        span.end({}, {}, None)
        assert not current().is_valid, "no span current between polls"
        again = tracer.start({"device": "parent"})
        assert current() == again.context != mine
        again.end({}, {}, None)

    await asyncio.create_task(parent())
    assert len(exported.get_finished_spans()) == 3
