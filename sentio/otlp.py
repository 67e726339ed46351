"""Raw OTLP metric samples: every point keeps its own timestamp, one request per batch.

The OTel metrics SDK aggregates between exports (a gauge keeps only its last value per
collection), so readings and AI outputs, where every sample matters, are encoded here with the
official protobuf messages and posted over OTLP/HTTP. Sentio's own health metrics, spans and
logs go through the SDK (``sentio.telemetry``).
"""

from __future__ import annotations

import ssl
import struct
from collections.abc import Iterable, Mapping
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


def _varint(value: int) -> bytes:
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
                attrs = NumberDataPoint(
                    attributes=_key_values(point.attributes)
                ).SerializeToString()
                cached = _varint(1 << 3 | 2) + _varint(len(attrs) + _POINT.size) + attrs
                prefixes[key] = cached
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
