"""Span request bodies framed by sentio.otlp_traces are byte for byte the SDK's."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
    set_span_in_context,
)

from sentio.otlp_traces import SpanEncoder, SpanExporter


def _spans(resource: Resource | None = None, scope: str = "sentio.collector") -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=resource or Resource.create({"service.name": "t"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer(scope, "1.2", schema_url="https://opentelemetry.io/schemas/1.2")
    labels = {"instance": "bench-0", "connector": "modbus", "device": "meter-1"}
    with tracer.start_as_current_span("poll", attributes=labels) as span:
        span.add_event("readings", {"device": "meter-1", "values": "f0=231.25 " * 60})
        with tracer.start_as_current_span("child", kind=SpanKind.CLIENT) as child:
            child.set_attribute("failed_devices", ["meter-2", "meter-3"])  # an array: the SDK's
    values = {"s": "", "t": True, "f": False, "i": 0, "n": -5, "big": 2**62, "d": 0.0, "x": -1.5}
    with tracer.start_as_current_span("typed", attributes=values) as span:
        span.set_status(Status(StatusCode.ERROR, "meter-1: timed out"))
        span.add_event("", {})
        span.add_event("ünïcode", {"k": "välue", "nan": float("nan")})
    with tracer.start_as_current_span("ok") as span:
        span.set_status(Status(StatusCode.OK))
    remote = SpanContext(
        0x1234, 0x99, is_remote=True, trace_flags=TraceFlags(1),
        trace_state=TraceState([("vendor", "a1")]),
    )  # fmt: skip
    context = set_span_in_context(NonRecordingSpan(remote))
    with tracer.start_as_current_span("remote child", context=context, kind=SpanKind.SERVER):
        pass
    with tracer.start_as_current_span("linked", links=[Link(remote, {"why": "batch"})]):
        pass
    with tracer.start_as_current_span("huge int", attributes={"n": 2**70}):
        pass  # beyond int64: the SDK drops the attribute, so must this
    return list(memory.get_finished_spans())


def test_every_kind_of_span_frames_to_the_sdks_bytes() -> None:
    spans = _spans()
    assert len(spans) == 7
    assert SpanEncoder().encode(spans) == encode_spans(spans).SerializePartialToString()


def test_spans_built_finished_frame_to_the_sdks_bytes() -> None:
    """Spans made as ReadableSpan (the poll spans: plain dict and tuple fields) take a fast path."""
    resource, scope = Resource.create({"service.name": "t"}), InstrumentationScope("s", "1")
    labels = {"instance": "fleet-1", "connector": "modbus", "device": "u001"}
    parent = SpanContext(0x77, 0x55, is_remote=True, trace_flags=TraceFlags(1))
    spans = [
        ReadableSpan(
            "poll", SpanContext(0x1234 + i, 0x99 + i, False, TraceFlags(1)), parent if i else None,
            resource, {**labels, "failed_devices": ("u002",)} if i == 2 else labels,
            (Event("readings", {"device": "u001", "values": "v=1.5 " * (i * 30)}, 10 + i),
             Event("", {}, 0)),
            (), SpanKind.INTERNAL, None,
            Status(StatusCode.ERROR, "u002: timed out") if i == 2 else Status(StatusCode.UNSET),
            1_000 + i, 2_000 + i, scope,
        )
        for i in range(4)
    ]  # fmt: skip
    assert SpanEncoder().encode(spans) == encode_spans(spans).SerializePartialToString()

    class Other(ReadableSpan):
        """A span type of someone else's: read through its properties."""

    others = [Other(s.name, s.context, s.parent, s.resource, s.attributes, s.events, (),
                    s.kind, None, s.status, s.start_time, s.end_time,
                    s.instrumentation_scope) for s in spans]  # fmt: skip
    assert SpanEncoder().encode(others) == encode_spans(spans).SerializePartialToString()


def test_spans_of_several_resources_and_scopes_group_as_the_sdks() -> None:
    spans = [
        *_spans(Resource.create({"service.name": "a"}), "one"),
        *_spans(Resource.create({"service.name": "b"}), "two"),
        *_spans(Resource.create({"service.name": "a"}), "three"),
    ]
    encoder = SpanEncoder()
    expected = encode_spans(spans).SerializePartialToString()
    assert encoder.encode(spans) == expected
    assert encoder.encode(spans) == expected  # again, from its caches
    request = ExportTraceServiceRequest.FromString(expected)
    assert len(request.resource_spans) >= 2


def test_an_empty_batch_is_an_empty_request() -> None:
    assert SpanEncoder().encode([]) == encode_spans([]).SerializePartialToString() == b""


class _Sink(BaseHTTPRequestHandler):
    bodies: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        self.bodies.append(self.rfile.read(length))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        """Keep the test's output quiet."""


@pytest.fixture
def sink() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Sink.bodies = []
    yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces"
    server.shutdown()
    server.server_close()


def test_the_exporter_posts_the_sdks_bytes(sink: str) -> None:
    spans = _spans()
    exporter = SpanExporter(endpoint=sink, timeout=5)
    assert exporter.export(spans) is SpanExportResult.SUCCESS
    assert _Sink.bodies == [encode_spans(spans).SerializePartialToString()]
    exporter.shutdown()
    assert exporter.export(spans) is SpanExportResult.FAILURE  # shut down: the SDK's answer


def test_a_refused_request_is_a_failed_export() -> None:
    exporter = SpanExporter(endpoint="http://127.0.0.1:9/v1/traces", timeout=0.5)
    assert exporter.export(_spans()) is SpanExportResult.FAILURE
