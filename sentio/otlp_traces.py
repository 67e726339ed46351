"""OTLP/HTTP span export with request bodies framed here, byte for byte what the SDK would send.

The SDK's encoder builds a protobuf message per span, attribute and event, which cost the
collector more than the poll it traced (about 130 µs a span of 100 readings). Here a span is
framed straight into bytes; the resource and scope are encoded once each by the SDK's own
encoder, and a span the fast path does not cover (links, array or mapping values, integers
beyond 64 bits) is encoded by the SDK, so the output is always the SDK's. A span made finished as
a plain ``ReadableSpan`` (the collector's poll spans) is read by its fields, not its properties,
which copy its attributes, events and links on every access (15 → 9 µs a poll span).
"""

from __future__ import annotations

import logging
import struct
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.exporter.otlp.proto.common._internal import (
    _encode_instrumentation_scope,
    _encode_resource,
)
from opentelemetry.exporter.otlp.proto.common._internal.trace_encoder import _encode_span
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.trace import SpanKind

log = logging.getLogger(__name__)

_KINDS = {kind: kind.value + 1 for kind in SpanKind}  # the protocol's enum counts from 1
_FIXED64 = struct.Struct("<Q")
_DOUBLE = struct.Struct("<d")
_FLAGS = b"\x85\x01" + struct.pack("<I", 0x100)  # field 16, fixed32: has-is-remote known
_REMOTE_FLAGS = b"\x85\x01" + struct.pack("<I", 0x300)  # ... and the parent is remote
_INT64 = 1 << 63
KEY_VALUES_CACHED = 10_000
_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


class _Unsupported(Exception):
    """Raise when a span needs the SDK's encoder."""


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _len_field(tag: int, payload: bytes) -> bytes:
    """Return a length-delimited field: its key byte (``tag``), length and ``payload``."""
    size = len(payload)
    if size < 0x80:
        return bytes((tag, size)) + payload
    if size < 0x4000:
        return bytes((tag, size & 0x7F | 0x80, size >> 7)) + payload
    return bytes((tag,)) + _varint(size) + payload


def _any_value(value: object) -> bytes:
    kind = type(value)
    if kind is str:
        return _len_field(0x0A, value.encode())  # type: ignore[attr-defined]
    if kind is bool:
        return b"\x10\x01" if value else b"\x10\x00"
    if kind is int:
        number: int = value  # type: ignore[assignment]
        if not -_INT64 <= number < _INT64:
            raise _Unsupported
        return b"\x18" + _varint(number & 0xFFFFFFFFFFFFFFFF)
    if kind is float:
        return b"\x21" + _DOUBLE.pack(value)
    raise _Unsupported


class SpanEncoder:
    """Frame spans as an ExportTraceServiceRequest; key-value pairs are encoded once each."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[int, str, type, object], bytes] = {}
        self._headers: dict[int, tuple[object, bytes]] = {}

    def _attributes(self, tag: int, attributes: Mapping[str, object] | None) -> bytes:
        """Return ``attributes`` as repeated KeyValue fields under field key ``tag``."""
        if not attributes:
            return b""
        pairs = self._pairs
        out = []
        for key, value in attributes.items():
            # a long value (an event's readings) is rarely seen twice: not worth keeping
            cacheable = type(value) is not str or len(value) <= 64
            entry = pairs.get((tag, key, type(value), value)) if cacheable else None
            if entry is None:
                entry = _len_field(
                    tag, _len_field(0x0A, key.encode()) + _len_field(0x12, _any_value(value))
                )
                if cacheable:
                    if len(pairs) >= KEY_VALUES_CACHED:
                        pairs.clear()
                    pairs[tag, key, type(value), value] = entry
            out.append(entry)
        return b"".join(out)

    def _span(self, span: ReadableSpan) -> bytes:
        """Return one span's Span message (without its own key and length)."""
        if type(span) is ReadableSpan:
            # a span built finished (the collector's poll spans): its fields as given, read
            # without the properties' copies (a MappingProxy, tuples) on every access
            context, parent, links = span._context, span._parent, span._links
            attributes, events = span._attributes, span._events
            name, kind, status = span._name, span._kind, span._status
            start, end = span._start_time, span._end_time
            dropped_attributes = 0 if type(attributes) is dict else span.dropped_attributes
            dropped_events = 0 if type(events) is tuple else span.dropped_events
            dropped_links = 0 if type(links) is tuple else span.dropped_links
        else:
            context, parent, links = span.get_span_context(), span.parent, span.links
            attributes, events = span.attributes, span.events
            name, kind, status = span.name, span.kind, span.status
            start, end = span.start_time, span.end_time
            dropped_attributes = span.dropped_attributes
            dropped_events, dropped_links = span.dropped_events, span.dropped_links
        if links or context is None:
            raise _Unsupported
        parts = [
            b"\x0a\x10" + context.trace_id.to_bytes(16, "big"),
            b"\x12\x08" + context.span_id.to_bytes(8, "big"),
        ]
        state = context.trace_state
        if state:
            parts.append(_len_field(0x1A, ",".join(f"{k}={v}" for k, v in state.items()).encode()))
        if parent:
            parts.append(b"\x22\x08" + parent.span_id.to_bytes(8, "big"))
        if name:
            parts.append(_len_field(0x2A, name.encode()))
        parts.append(b"\x30" + _varint(_KINDS[kind]))
        if start:
            parts.append(b"\x39" + _FIXED64.pack(start))
        if end:
            parts.append(b"\x41" + _FIXED64.pack(end))
        parts.append(self._attributes(0x4A, attributes))
        if dropped_attributes:
            parts.append(b"\x50" + _varint(dropped_attributes))
        for event in events:
            parts.append(_len_field(0x5A, self._event(event)))
        if dropped_events:
            parts.append(b"\x60" + _varint(dropped_events))
        if dropped_links:
            parts.append(b"\x70" + _varint(dropped_links))
        body = b""
        if status.description:
            body += _len_field(0x12, status.description.encode())
        if status.status_code.value:
            body += b"\x18" + _varint(status.status_code.value)
        parts.append(_len_field(0x7A, body))
        parts.append(_REMOTE_FLAGS if parent is not None and parent.is_remote else _FLAGS)
        return b"".join(parts)

    def _event(self, event: Event) -> bytes:
        """Return one event's Span.Event message (without its own key and length)."""
        attributes: Mapping[str, object] | None
        if type(event) is Event and type(event._attributes) is dict:
            timestamp, name, attributes = event._timestamp, event._name, event._attributes
            dropped = 0
        else:
            timestamp, name, attributes = event.timestamp, event.name, event.attributes
            dropped = event.dropped_attributes
        body = b"\x09" + _FIXED64.pack(timestamp) if timestamp else b""
        if name:
            body += _len_field(0x12, name.encode())
        body += self._attributes(0x1A, attributes)
        if dropped:
            body += b"\x20" + _varint(dropped)
        return body

    def _header(self, thing: Any, encode: Any) -> bytes:
        """Return the encoded resource or scope ``thing``, by the SDK, once per object."""
        hit = self._headers.get(id(thing))
        if hit is None or hit[0] is not thing:
            if len(self._headers) >= KEY_VALUES_CACHED:
                self._headers.clear()
            hit = self._headers[id(thing)] = (thing, encode(thing).SerializeToString())
        return hit[1]

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """Return the ExportTraceServiceRequest of ``spans``, grouped by resource and scope."""
        # Grouped by identity first (a Resource hashes by dumping its attributes to JSON),
        # then equal resources and scopes merged, as the SDK's grouping by equality does.
        by_id: dict[tuple[int, int], tuple[Any, Any, list[bytes]]] = {}
        for span in spans:
            try:
                body = self._span(span)
            except (_Unsupported, UnicodeEncodeError):
                body = _encode_span(span).SerializePartialToString()
            resource, scope = span.resource, span.instrumentation_scope or None
            group = by_id.get((id(resource), id(scope)))
            if group is None:
                group = by_id[id(resource), id(scope)] = (resource, scope, [])
            size = len(body)
            group[2].append(
                bytes((0x12, size & 0x7F | 0x80, size >> 7)) + body
                if 0x80 <= size < 0x4000
                else _len_field(0x12, body)
            )
        grouped: dict[Any, dict[Any, list[bytes]]] = {}
        for resource, scope, bodies in by_id.values():
            grouped.setdefault(resource, {}).setdefault(scope, []).extend(bodies)
        out = []
        for resource, scopes in grouped.items():
            parts = [_len_field(0x0A, self._header(resource, _encode_resource))]
            for scope, bodies in scopes.items():
                scope_spans = _len_field(0x0A, self._header(scope, _encode_instrumentation_scope))
                scope_spans += b"".join(bodies)
                if scope is not None and scope.schema_url:
                    scope_spans += _len_field(0x1A, scope.schema_url.encode())
                parts.append(_len_field(0x12, scope_spans))
            if resource.schema_url:
                parts.append(_len_field(0x1A, resource.schema_url.encode()))
            out.append(_len_field(0x0A, b"".join(parts)))
        return b"".join(out)


class SpanExporter(OTLPSpanExporter):
    """The SDK's OTLP/HTTP span exporter, its request bodies framed by ``SpanEncoder``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.encoder = SpanEncoder()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Send ``spans`` in one request; an SDK without the parts used here exports its way."""
        client = getattr(self, "_client", None)
        metrics = getattr(self, "_metrics", None)
        limit = getattr(self, "_max_request_size", None)
        if self._shutdown or client is None or metrics is None or limit is None:
            return super().export(spans)
        with metrics.export_operation(len(spans)) as result:
            try:
                body = self.encoder.encode(spans)
            except Exception as error:  # as the SDK's: a batch that cannot be encoded is lost
                log.error("Failed to encode span batch: %s", error)
                result.error = error
                return SpanExportResult.FAILURE
            if 0 < limit < len(body):
                log.warning("Dropping span batch: %d bytes exceeds max_request_size", len(body))
                result.error = ValueError(f"span request of {len(body)} bytes over {limit}")
                return SpanExportResult.FAILURE
            sent = client.export(body)
            if not sent.success:
                result.error = sent.error
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS
