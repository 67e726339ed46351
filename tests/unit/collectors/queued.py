"""Read back what a collector holds for export: its encoded requests, decoded."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from sentio.collectors.runtime import Collector


@dataclass(frozen=True)
class Queued:
    """One sample as a request carries it."""

    name: str
    unit: str
    value: float
    timestamp_ns: int
    attributes: dict[str, Any]


def decode(body: bytes) -> list[Queued]:
    """Return the samples of one OTLP metrics request, metric by metric."""
    out: list[Queued] = []
    for rm in ExportMetricsServiceRequest.FromString(body).resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                for dp in metric.gauge.data_points:
                    attrs = {
                        kv.key: getattr(kv.value, kv.value.WhichOneof("value"))
                        for kv in dp.attributes
                    }
                    out.append(
                        Queued(metric.name, metric.unit, dp.as_double, dp.time_unix_nano, attrs)
                    )
    return out


def queued(collector: Collector) -> list[Queued]:
    """Return every sample the collector holds, oldest request first, sealing the open batch."""
    collector._seal()
    return [q for body, _count in collector.requests for q in decode(body)]
