"""Resolved metrics and the samples made from their OPC-UA data values."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asyncua import ua
from sentio.connectors.contract import Event, Quality, Reading, Sample, Severity, now_ns

from .config import DeadbandConfig

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


def to_sample(device: str, target: Target, data: ua.DataValue) -> Sample:
    """Make a reading of ``data`` (NaN when bad), or an ERROR event when it is not a number."""
    status = data.StatusCode or ua.StatusCode()
    quality = quality_of(status)
    raw = data.Value.Value if data.Value is not None else None
    value = numeric(raw)
    attributes = dict(target.attributes)
    if quality is not Quality.GOOD:
        attributes["status"] = status.name
    if value is None:
        if quality is not Quality.BAD:
            return Event(
                device=device,
                body=(
                    f"{device}: node {target.metric} ({target.address}) has a "
                    f"{type(raw).__name__} value, not a number"
                ),
                severity=Severity.ERROR,
                attributes={**attributes, "error": "not_numeric", "metric": target.metric},
            )
        value = math.nan
    return Reading(
        device=device,
        metric=target.metric,
        value=value,
        unit=target.unit,
        timestamp_ns=timestamp_ns(data.SourceTimestamp),
        attributes=attributes,
        quality=quality,
    )
