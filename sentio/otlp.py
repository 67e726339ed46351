"""Raw OTLP metric samples: every point keeps its own timestamp, one request per batch.

The OTel metrics SDK aggregates between exports (a gauge keeps only its last value per
collection), so readings and AI outputs, where every sample matters, are encoded here with the
official protobuf messages and posted over OTLP/HTTP. Sentio's own health metrics, spans and
logs go through the SDK (``sentio.telemetry``).
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import aiohttp
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from sentio import __version__
from sentio.config import ExporterConfig
from sentio.errors import TelemetryError
from sentio.redact import redact

AttributeValue = str | bool | int | float
_POINT = struct.Struct("<BQBd")  # time_unix_nano (fixed64) and as_double (double) fields
_TIME_TAG = 3 << 3 | 1
_VALUE_TAG = 4 << 3 | 1


class Point(NamedTuple):
    """One sample of one gauge series (a tuple: the collector makes one per reading)."""

    name: str
    value: float
    timestamp_ns: int
    attributes: Mapping[str, AttributeValue] = MappingProxyType({})
    unit: str = ""
    description: str = ""


class ExportError(TelemetryError):
    """Raise when a backend did not accept a request; ``retryable`` says whether to try again."""

    def __init__(self, message: str, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def _any_value(value: AttributeValue) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    return AnyValue(string_value=str(value))


def _key_values(attributes: Mapping[str, AttributeValue]) -> list[KeyValue]:
    return [KeyValue(key=k, value=_any_value(v)) for k, v in sorted(attributes.items())]


_ONE_BYTE = [bytes((i,)) for i in range(0x80)]


def _varint(value: int) -> bytes:
    if value < 0x80:
        return _ONE_BYTE[value]
    if value < 0x4000:
        return bytes((value & 0x7F | 0x80, value >> 7))
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, length: int) -> bytes:
    """Return the key and length of a length-delimited protobuf field of ``length`` bytes."""
    return _varint(number << 3 | 2) + _varint(length)


def _field(number: int, payload: bytes) -> bytes:
    """Return a length-delimited protobuf field."""
    return _tag(number, len(payload)) + payload


def data_point_prefix(attributes: Mapping[str, AttributeValue]) -> bytes:
    """Return a data point's field key, length and attributes: all of it but time and value."""
    attrs: bytes = NumberDataPoint(attributes=_key_values(attributes)).SerializeToString()
    return _varint(1 << 3 | 2) + _varint(len(attrs) + _POINT.size) + attrs


def encode_gauges(
    resource: Mapping[str, AttributeValue], points: Iterable[Point], scope: str = "sentio"
) -> bytes:
    """Return a serialized ExportMetricsServiceRequest holding ``points`` as gauge samples.

    The protobuf library builds the resource, the scope, each metric's header and each
    distinct attribute set; the data points themselves are framed here (attributes, then
    fixed64 time and double value), several times faster than a message object per point for
    the hundreds of thousands of points an AI cycle writes.
    """
    # Every data point of one attribute set has the same length, so its field header and
    # attributes are encoded once and each point adds only its time and value.
    # Points usually share attribute dicts, so the dict itself is looked up first (it is kept
    # in ``seen``, alive, so its id cannot be reused by another dict during this call).
    prefixes: dict[tuple[tuple[str, AttributeValue], ...], bytes] = {}
    seen: dict[int, tuple[Mapping[str, AttributeValue], bytes]] = {}
    metrics: dict[tuple[str, str], tuple[str, list[bytes]]] = {}
    for point in points:
        hit = seen.get(id(point.attributes))
        if hit is not None and hit[0] is point.attributes:
            prefix = hit[1]
        else:
            key = tuple(sorted(point.attributes.items()))
            cached = prefixes.get(key)
            if cached is None:
                cached = prefixes[key] = data_point_prefix(point.attributes)
            prefix = cached
            seen[id(point.attributes)] = (point.attributes, prefix)
        entry = metrics.get((point.name, point.unit))
        if entry is None:
            entry = metrics[point.name, point.unit] = (point.description, [])
        entry[1].append(
            prefix + _POINT.pack(_TIME_TAG, point.timestamp_ns, _VALUE_TAG, point.value)
        )
    # VictoriaMetrics (v1.140) keeps the previous metric's unit for a metric without one
    # (proto3 omits an empty string), so unit-less metrics go first.
    ordered = sorted(metrics.items(), key=lambda item: item[0][1] != "")
    parts = [
        ScopeMetrics(
            scope=InstrumentationScope(name=scope, version=__version__)
        ).SerializeToString()
    ]
    for (name, unit), (description, data_points) in ordered:
        header = Metric(name=name, unit=unit, description=description).SerializeToString()
        gauge = b"".join(data_points)
        gauge_field = _tag(5, len(gauge))
        parts += [_tag(2, len(header) + len(gauge_field) + len(gauge)), header, gauge_field, gauge]
    scope_metrics = b"".join(parts)
    resource_metrics = ResourceMetrics(
        resource=Resource(attributes=_key_values(resource))
    ).SerializeToString() + _field(2, scope_metrics)
    return _field(1, resource_metrics)


_HEAD = struct.Struct("<BQB")  # time_unix_nano (fixed64), then the as_double field's key
_DOUBLES: dict[int, struct.Struct] = {}
LAYOUTS_CACHED = 10_000


class GaugeEncoder:
    """Encode gauge samples as they arrive; ``take`` frames them into one request.

    Each metric (name and unit) keeps a buffer of encoded data points, so a sample costs one
    append and nothing is encoded twice. A batch's layout (its metrics and attributes) is looked
    up by identity, so a connector that reuses them pays for their encoding once.
    """

    def __init__(self, resource: Mapping[str, AttributeValue], scope: str) -> None:
        self.count = 0
        self._resource = ResourceMetrics(
            resource=Resource(attributes=_key_values(resource))
        ).SerializeToString()
        self._scope = ScopeMetrics(
            scope=InstrumentationScope(name=scope, version=__version__)
        ).SerializeToString()
        self._buffers: dict[tuple[str, str], bytearray] = {}
        self._headers: dict[tuple[str, str], bytes] = {}
        self._order: list[tuple[bytes, bytearray]] = []  # unit-less metrics first
        self._prefixes: dict[tuple[tuple[str, AttributeValue], ...], bytes] = {}
        self._layouts: dict[tuple[int, int], tuple[object, object, list[bytearray], bytes]] = {}

    def _buffer(self, name: str, unit: str) -> bytearray:
        buffer = self._buffers.get((name, unit))
        if buffer is None:
            buffer = self._buffers[name, unit] = bytearray()
            self._headers[name, unit] = Metric(name=name, unit=unit).SerializeToString()
            # VictoriaMetrics (v1.140) keeps the previous metric's unit for a metric without
            # one (proto3 omits an empty string), so unit-less metrics go first.
            self._order = [
                (self._headers[key], self._buffers[key])
                for key in sorted(self._buffers, key=lambda k: k[1] != "")
            ]
        return buffer

    def _prefix(self, attributes: Mapping[str, AttributeValue]) -> bytes:
        key = tuple(sorted(attributes.items()))
        prefix = self._prefixes.get(key)
        if prefix is None:
            if len(self._prefixes) >= LAYOUTS_CACHED:
                self._prefixes.clear()
            prefix = self._prefixes[key] = data_point_prefix(attributes)
        return prefix

    def add(
        self, name: str, unit: str, value: float, timestamp_ns: int,
        attributes: Mapping[str, AttributeValue],
    ) -> None:  # fmt: skip
        """Encode one sample."""
        self._buffer(name, unit).extend(
            self._prefix(attributes) + _POINT.pack(_TIME_TAG, timestamp_ns, _VALUE_TAG, value)
        )
        self.count += 1

    def add_many(
        self, metrics: tuple[tuple[str, str], ...], values: Sequence[float], timestamp_ns: int,
        attributes: Mapping[str, AttributeValue],
    ) -> None:  # fmt: skip
        """Encode one value per metric, all at one time with one attribute set.

        Raise ``struct.error`` (encoding nothing) if a value is not a number.
        """
        count = len(metrics)
        doubles = _DOUBLES.get(count)
        if doubles is None:
            doubles = _DOUBLES[count] = struct.Struct(f"<{count}d")
        packed = doubles.pack(*values)
        layout = self._layouts.get((id(metrics), id(attributes)))
        if layout is None or layout[0] is not metrics or layout[1] is not attributes:
            if len(self._layouts) >= LAYOUTS_CACHED:
                self._layouts.clear()
            buffers = [self._buffer(name, unit) for name, unit in metrics]
            # keeping both objects in the entry keeps their ids from being reused meanwhile
            layout = (metrics, attributes, buffers, self._prefix(attributes))
            self._layouts[id(metrics), id(attributes)] = layout
        head = layout[3] + _HEAD.pack(_TIME_TAG, timestamp_ns, _VALUE_TAG)
        offset = 0
        for buffer in layout[2]:
            buffer += head
            buffer += packed[offset : offset + 8]
            offset += 8
        self.count += count

    def take(self) -> bytes:
        """Return an ExportMetricsServiceRequest of every sample added since the last take."""
        parts = [self._scope]
        for header, buffer in self._order:
            if not buffer:
                continue
            gauge_field = _tag(5, len(buffer))
            parts += [_tag(2, len(header) + len(gauge_field) + len(buffer)), header, gauge_field]
            parts.append(bytes(buffer))
            buffer.clear()
        self.count = 0
        scope_metrics = b"".join(parts)
        return _field(1, self._resource + _field(2, scope_metrics))


def ssl_context(exporter: ExporterConfig) -> ssl.SSLContext | None:
    """Return the TLS context of an exporter's `tls` options, or None for the default."""
    tls = exporter.tls
    if not (tls.ca_file or tls.cert_file):
        return None
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file:
        context.load_cert_chain(tls.cert_file, tls.key_file)
    return context


class MetricsPusher:
    """Post encoded metric requests to one OTLP/HTTP endpoint."""

    def __init__(self, session: aiohttp.ClientSession, url: str, exporter: ExporterConfig) -> None:
        self.session = session
        self.url = url
        self.label = redact(url)
        self.headers = {"Content-Type": "application/x-protobuf", **exporter.headers}
        self.timeout = aiohttp.ClientTimeout(total=exporter.timeout_s)
        self.ssl: ssl.SSLContext | bool = ssl_context(exporter) or True

    async def push(self, body: bytes) -> None:
        """Send one request; raise ExportError, retryable for timeouts, 429 and 5xx."""
        try:
            async with self.session.post(
                self.url, data=body, headers=self.headers, timeout=self.timeout, ssl=self.ssl
            ) as resp:
                if resp.status < 300:
                    return
                detail = (await resp.text())[:300]
                retryable = resp.status == 429 or resp.status >= 500
                raise ExportError(f"POST {self.label}: HTTP {resp.status}: {detail}", retryable)
        except (aiohttp.ClientError, TimeoutError) as exc:
            detail = redact(f"{type(exc).__name__}: {exc}")
            raise ExportError(f"POST {self.label}: {detail}", True) from exc
