"""Loki label names over VictoriaLogs' OTLP fields, both ways (docs/logql.md has the table).

VictoriaLogs keeps OTLP resource and record attributes under their OTel names (``service.name``);
Loki's OTLP ingestion turns every character a Prometheus label name may not hold into ``_``
(``service_name``) and derives ``detected_level`` from the severity. A ``Resolver`` knows the
field names VictoriaLogs holds, so ``probe_sample`` finds the field ``probe.sample`` as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

SEVERITY_FIELD = "severity_text"
LEVEL_LABELS = frozenset({"detected_level", "level"})
# Fields of VictoriaLogs' own that are never labels.
INTERNAL_FIELDS = frozenset({"_msg", "_time", "_stream", "_stream_id"})
# Loki label -> VictoriaLogs field, where the rule "dots become underscores" is not enough.
STATIC: Mapping[str, str] = {
    "detected_level": SEVERITY_FIELD,
    "level": SEVERITY_FIELD,
    "service_name": "service.name",
    "service_namespace": "service.namespace",
    "service_instance_id": "service.instance.id",
    "service_version": "service.version",
    "deployment_environment": "deployment.environment",
    "deployment_environment_name": "deployment.environment.name",
    "host_name": "host.name",
    "host_id": "host.id",
    "scope_name": "scope.name",
    "scope_version": "scope.version",
    "telemetry_sdk_name": "telemetry.sdk.name",
    "telemetry_sdk_language": "telemetry.sdk.language",
    "telemetry_sdk_version": "telemetry.sdk.version",
}
_INVALID = re.compile(r"[^A-Za-z0-9_]")


def loki_name(field: str) -> str:
    """Return the Loki label name of a VictoriaLogs field (``service.name`` -> ``service_name``)."""
    name = _INVALID.sub("_", field)
    return f"_{name}" if name[:1].isdigit() else name


def normalize_level(value: str) -> str:
    """Return Loki's ``detected_level`` spelling of an OTLP severity text."""
    low = value.strip().lower()
    if low.startswith("warn"):
        return "warn"
    if low in ("fatal", "critical") or low.startswith("fatal"):
        return "critical" if low == "critical" else "fatal"
    if low.startswith(("err",)):
        return "error"
    for name in ("trace", "debug", "info"):
        if low.startswith(name):
            return name
    return low or "unknown"


def level_regex(value: str) -> str:
    """Return a case-insensitive regex on ``severity_text`` for a Loki level value."""
    low = value.lower()
    if low == "warn" or low == "warning":
        return "(?i)^(?:warn|warning)$"
    return f"(?i)^(?:{re.escape(low)})$" if low.isalnum() else f"(?i)^(?:{low})$"


class Resolver:
    """Map Loki label names to VictoriaLogs fields, knowing which fields exist."""

    def __init__(self, fields: Iterable[str] = ()) -> None:
        self._by_label: dict[str, str] = {}
        for f in fields:
            if f in INTERNAL_FIELDS:
                continue
            # an exact field of that name wins over one that only sanitizes to it
            if loki_name(f) != f:
                self._by_label.setdefault(loki_name(f), f)
        for f in fields:
            if f not in INTERNAL_FIELDS:
                self._by_label[f] = f

    def field(self, label: str) -> str:
        """Return the VictoriaLogs field that holds Loki label ``label``."""
        if label in STATIC:
            return STATIC[label]
        return self._by_label.get(label, label)

    @staticmethod
    def label(field: str) -> str:
        """Return the Loki label name under which field ``field`` is shown."""
        return loki_name(field)

    @staticmethod
    def is_level(label: str) -> bool:
        """Return whether ``label`` is one of the names of the severity."""
        return label in LEVEL_LABELS


def stream_labels(fields: Mapping[str, str]) -> dict[str, str]:
    """Return the Loki labels of one VictoriaLogs record: every field but the message and time."""
    out: dict[str, str] = {}
    for key, value in fields.items():
        if key in INTERNAL_FIELDS or value == "":
            continue
        out[loki_name(key)] = value
    severity = fields.get(SEVERITY_FIELD)
    if severity:
        out["detected_level"] = normalize_level(severity)
    return out


def parse_stream(stream: str) -> dict[str, str]:
    """Return the fields of a VictoriaLogs ``_stream`` value such as ``{a="x",b="y"}``."""
    out: dict[str, str] = {}
    for m in _STREAM_PAIR.finditer(stream):
        out[m.group(1)] = _unescape(m.group(2))
    return out


_STREAM_PAIR = re.compile(r'([^{},=\s]+)="((?:\\.|[^"\\])*)"')


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value)
