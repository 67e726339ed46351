"""A known set of log records, sent to VictoriaLogs over OTLP/HTTP, and Python models of them.

Every expected answer of the corpus is computed from these records here, never by the
translator: the helpers parse logfmt and JSON bodies and count with plain Python.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

NS = 1_000_000_000
COUNT = 96
SPACING_S = 10
LEVELS = ("INFO", "INFO", "WARNING", "ERROR", "DEBUG")
STATUSES = (200, 201, 404, 500, 503)
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@dataclass(frozen=True)
class Rec:
    """One record as sent: resource, attributes, severity and body."""

    i: int
    time_ns: int
    service: str
    host: str
    device: str
    severity: str
    body: str
    trace_id: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def level(self) -> str:
        """Return Loki's detected_level of the record."""
        low = self.severity.lower()
        return "warn" if low.startswith("warn") else low

    @property
    def kind(self) -> str:
        """Return the body's format: logfmt, json, plain or color."""
        return ("logfmt", "json", "plain", "color")[self.i % 4]

    def logfmt(self) -> dict[str, str]:
        """Return the body parsed as logfmt (empty for other bodies)."""
        out: dict[str, str] = {}
        for m in re.finditer(r'(\w+)=("([^"]*)"|\S+)', self.body):
            out[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
        return out if self.kind == "logfmt" else {}

    def json(self) -> dict[str, str]:
        """Return the body parsed as JSON, nested keys flattened with '_' (empty if not JSON)."""
        if self.kind != "json":
            return {}
        out: dict[str, str] = {}

        def walk(prefix: str, value: object) -> None:
            if isinstance(value, dict):
                for k, v in value.items():
                    walk(f"{prefix}{k}_", v)
                return
            out[prefix[:-1]] = str(value)

        walk("", json.loads(self.body))
        return out

    def labels(self) -> dict[str, str]:
        """Return the stream's labels in Loki's names."""
        return {"service_name": self.service, "host_name": self.host}


def make_records(base_s: int) -> list[Rec]:
    """Return the records, one every SPACING_S seconds from ``base_s`` + 3.25 s."""
    out: list[Rec] = []
    for i in range(COUNT):
        t = (base_s + i * SPACING_S) * NS + 3_250_000_000
        device = f"pump-{i % 4}"
        level = LEVELS[i % 5]
        kind = i % 4
        if kind == 0:
            body = (
                f"level={level.lower()} device={device} temp={20 + i % 7}.5 "
                f'duration={(i % 9 + 1) * 50}ms size={i % 5 + 1}KB msg="reading ok"'
            )
        elif kind == 1:
            body = json.dumps(
                {
                    "status": STATUSES[i % 5],
                    "latency_ms": i * 3 % 97,
                    "path": f"/api/v{i % 2}",
                    "user": {"id": f"u{i % 3}"},
                }
            )
        elif kind == 2:
            word = "timeout" if i % 8 == 2 else "Timeout"
            body = f"{device} cycle {i} {word} after {i % 13} s"
        else:
            body = f"\x1b[3{i % 7}mALERT\x1b[0m code={i % 11} zone=z{i % 3}"
        out.append(
            Rec(
                i=i,
                time_ns=t,
                service="plant-a" if i % 3 != 2 else "plant-b",
                host="edge-1" if i % 2 == 0 else "edge-2",
                device=device,
                severity=level,
                body=body,
                trace_id=f"{i:032x}" if i % 6 == 0 else "",
                extra=(
                    {"client.ip": f"10.0.{i % 2}.{i}"}
                    if i % 5 == 4
                    else {"client.ip": f"2001:db8::{i:x}"}
                    if i % 5 == 2
                    else {}
                ),
            )
        )
    return out


def otlp_request(records: Iterable[Rec]) -> bytes:
    """Return an OTLP ExportLogsServiceRequest of the records, one ResourceLogs per resource."""
    by_resource: dict[tuple[str, str], list[Rec]] = {}
    for r in records:
        by_resource.setdefault((r.service, r.host), []).append(r)
    resource_logs = []
    for (service, host), recs in by_resource.items():
        attrs = [
            KeyValue(key="service.name", value=AnyValue(string_value=service)),
            KeyValue(key="host.name", value=AnyValue(string_value=host)),
        ]
        logs = [
            LogRecord(
                time_unix_nano=r.time_ns,
                severity_text=r.severity,
                body=AnyValue(string_value=r.body),
                trace_id=bytes.fromhex(r.trace_id) if r.trace_id else b"",
                attributes=[
                    KeyValue(key="device", value=AnyValue(string_value=r.device)),
                    *(KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in r.extra.items()),
                ],
            )
            for r in recs
        ]
        resource_logs.append(
            ResourceLogs(
                resource=Resource(attributes=attrs),
                scope_logs=[ScopeLogs(log_records=logs)],
            )
        )
    return ExportLogsServiceRequest(resource_logs=resource_logs).SerializeToString()


def aligned_base(now_s: float | None = None) -> int:
    """Return a start 30 minutes ago on a whole minute, so range buckets align."""
    now = time.time() if now_s is None else now_s
    return int(now // 60) * 60 - 30 * 60


Pred = Callable[[Rec], bool]
