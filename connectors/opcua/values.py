"""Resolved metrics and the samples made from their OPC-UA data values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from asyncua import ua
from sentio.connectors.contract import Event, Quality, Reading, Sample, Severity, now_ns

from .config import DeadbandConfig

Stamp = Literal["gather", "source", "server"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Target:
    """One metric of a device, resolved to its node on the server as it is now."""

    metric: str
    node_id: ua.NodeId
    address: str
    unit: str = ""
    attributes: Mapping[str, str] = field(default_factory=dict)
    deadband: DeadbandConfig | None = None


def quality_of(status: ua.StatusCode) -> Quality:
    """Map an OPC-UA status code's severity onto a reading's quality."""
    if status.is_good():
        return Quality.GOOD
    if status.is_uncertain():
        return Quality.UNCERTAIN
    return Quality.BAD


def timestamp_ns(value: datetime | None) -> int:
    """Return a source timestamp in nanoseconds since the epoch (now when absent)."""
    if value is None:
        return now_ns()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


def numeric(value: object) -> float | bool | None:
    """Return ``value`` as a float or bool, or None when it is neither a number nor a bool."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return None


def type_name(value: ua.Variant | None) -> str:
    """Return the OPC-UA type of a value as a person reads it: ``String``, ``Double[]``."""
    if value is None:
        return "no value"
    array = isinstance(value.Value, list) or bool(value.Dimensions)
    return f"{value.VariantType.name}{'[]' if array else ''}"


@dataclass(slots=True)
class Stamping:
    """How readings are stamped, and the nodes already reported as not numbers."""

    timestamp: Stamp = "gather"
    source_timestamps: bool = False
    not_numeric: set[tuple[str, str]] = field(default_factory=set)

    def time_of(self, data: ua.DataValue, gathered_ns: int) -> int:
        """Return the timestamp a reading of ``data`` carries."""
        if self.timestamp == "source" and data.SourceTimestamp is not None:
            return timestamp_ns(data.SourceTimestamp)
        if self.timestamp == "server" and data.ServerTimestamp is not None:
            return timestamp_ns(data.ServerTimestamp)
        return gathered_ns


def to_samples(
    device: str, target: Target, data: ua.DataValue, stamping: Stamping, gathered_ns: int
) -> list[Sample]:
    """Make the readings of ``data`` (NaN when bad); a value that is no number is warned of once."""
    status = data.StatusCode or ua.StatusCode()
    quality = quality_of(status)
    raw = data.Value.Value if data.Value is not None else None
    value = numeric(raw)
    attributes = dict(target.attributes)
    if quality is not Quality.GOOD:
        attributes["status"] = status.name
    if value is None:
        if quality is not Quality.BAD:
            key = (device, target.metric)
            if key in stamping.not_numeric:
                return []
            stamping.not_numeric.add(key)
            kind = type_name(data.Value)
            return [
                Event(
                    device=device,
                    body=(
                        f"{device}: node {target.address} ({target.metric}) holds a {kind}, "
                        "not a number; skipped"
                    ),
                    severity=Severity.WARN,
                    attributes={**attributes, "metric": target.metric, "type": kind},
                )
            ]
        value = math.nan
    stamp = stamping.time_of(data, gathered_ns)
    samples: list[Sample] = [
        Reading(device, target.metric, value, target.unit, stamp, attributes, quality)
    ]
    if stamping.source_timestamps and data.SourceTimestamp is not None:
        source_s = timestamp_ns(data.SourceTimestamp) / 1e9
        samples.append(
            Reading(device, f"{target.metric}_source_timestamp", source_s, "s", stamp, attributes)
        )
    return samples
