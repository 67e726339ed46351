"""The connector plugin contract: configured from a typed model, connect, read, close.

It imports nothing from Sentio's runtime or from OpenTelemetry, so a plugin package depends on
this module alone. Plugins register under the entry-point group ``sentio.connectors``.

A connector yields samples or raises; the runtime owns every device's health (Home Assistant's
coordinator pattern): it marks a device down when a poll of it raises or yields an ERROR
``Event`` naming it, logs that once, backs off, and logs the recovery once. A connector never
reports a recovery itself, with one exception: a source that says on its own whether a device is
reachable (Zigbee2MQTT's availability) yields an ``Event`` with ``available`` False, and the
device stays down, whatever readings of it still arrive, until an ``Event`` with ``available``
True. Its errors derive from ``ConnectorError``::

    ConnectorError                  a connector cannot read (raised by plugins)
    ├── ConnectorConnectionError    the device or broker cannot be reached, or dropped us
    ├── ConnectorTimeoutError       the device did not answer in time
    └── ConnectorProtocolError      the device answered with an error or something unreadable
"""

from __future__ import annotations

import abc
import enum
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

ENTRY_POINT_GROUP = "sentio.connectors"
AttributeValue = str | bool | int | float
# Units, as metric names show them (VictoriaMetrics' Prometheus naming): a UCUM unit becomes a
# suffix (`Cel` -> `_celsius`, `1` -> `_ratio`, for a true ratio 0..1 only); an annotation in
# braces adds nothing. So: a quantity has its UCUM unit; a boolean is BOOL (1 on, 0 off); a state
# code is STATE; a count names what it counts (`{part}`, `{event}`); a number of unknown unit has
# NO_UNIT. `contact` in BOOL is `contact`, never `contact_ratio`.
BOOL = "{bool}"
STATE = "{state}"
NO_UNIT = ""


class ConnectorError(Exception):
    """Raise when a connector cannot read; the runtime marks the device (or entry) down."""


class ConnectorConnectionError(ConnectorError):
    """Raise when the device or broker cannot be reached, refuses us, or drops the connection."""


class ConnectorTimeoutError(ConnectorError):
    """Raise when the device does not answer in time."""


class ConnectorProtocolError(ConnectorError):
    """Raise when the device answers with an error, or with something that cannot be read."""


class Quality(enum.Enum):
    """How far a reading can be trusted (OPC-UA status codes map onto these)."""

    GOOD = "good"
    UNCERTAIN = "uncertain"
    BAD = "bad"


class Severity(enum.IntEnum):
    """Severity of an event, numbered as OTel's SeverityNumber."""

    DEBUG = 5
    INFO = 9
    WARN = 13
    ERROR = 17
    FATAL = 21


def now_ns() -> int:
    """Return the wall-clock time in nanoseconds since the epoch."""
    return time.time_ns()


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building
# a Reading four times as dear. Treat a Reading as immutable all the same.
@dataclass(slots=True)
class Reading:
    """One value of one metric of one device, at one time."""

    device: str
    metric: str
    value: float | bool | str
    unit: str = NO_UNIT
    timestamp_ns: int = field(default_factory=now_ns)
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    quality: Quality = Quality.GOOD


Metrics = tuple[tuple[str, str], ...]


@dataclass(slots=True)
class ReadingBatch:
    """Many values of one device read at one time, such as one request's registers.

    ``metrics`` names each value's metric and unit, in order: ``(("voltage", "V"), ...)``. Build
    it once and pass the same tuple on every poll: the runtime encodes a layout once per tuple
    (and attribute mapping) it has seen, so a batch costs a fraction of as many ``Reading``s.
    A batch means exactly what its ``readings()`` mean.
    """

    device: str
    metrics: Metrics
    values: Sequence[float | bool | str]
    timestamp_ns: int = field(default_factory=now_ns)
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    quality: Quality = Quality.GOOD

    def readings(self) -> list[Reading]:
        """Return the batch as one ``Reading`` per value."""
        if len(self.metrics) != len(self.values):
            raise ConnectorProtocolError(
                f"{self.device}: a batch of {len(self.metrics)} metrics carries "
                f"{len(self.values)} values"
            )
        return [
            Reading(
                self.device, name, value, unit, self.timestamp_ns, self.attributes, self.quality
            )
            for (name, unit), value in zip(self.metrics, self.values, strict=True)
        ]


@dataclass(frozen=True, slots=True)
class Event:
    """A log record about a device; ``gone`` says it no longer exists, ``available`` its reach.

    ``available`` None says nothing about health; False marks the device down (the body is the
    reason) until an event with True marks it up again.
    """

    device: str
    body: str
    severity: Severity = Severity.INFO
    timestamp_ns: int = field(default_factory=now_ns)
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)
    gone: bool = False
    available: bool | None = None


Sample = Reading | ReadingBatch | Event


@dataclass(frozen=True, slots=True)
class DeviceSchedule:
    """A device the runtime polls on its own, every ``interval_s`` (None: the instance's)."""

    name: str
    interval_s: float | None = None


ConfigT = TypeVar("ConfigT", bound=BaseModel)


class Connector(abc.ABC, Generic[ConfigT]):
    """A source of readings and events; polling and push connectors both fit.

    Readings come one at a time (``Reading``) or, cheaper when a device answers many values at
    once, as a ``ReadingBatch``; both may be mixed in one poll.

    A polling connector yields one poll's samples from ``read`` and returns; the runtime calls it
    again on its schedule. One that lists its devices in ``devices`` is instead polled device by
    device through ``poll``, each device in its own task with its own interval and backoff, so a
    slow device never delays the others. A push connector (``push`` true, which a connector may
    decide per instance in ``__init__``) yields samples as they arrive until it is closed, and
    raises a ``ConnectorError`` when its connection is lost: the runtime marks the entry down,
    calls ``close``, backs off, and calls ``connect`` and ``read`` again.

    A push connector whose source reports only changes (Home Assistant) sets ``changes_only``:
    the runtime then sends each metric's last value again, stamped when sent, every
    ``report.heartbeat_s`` it has not changed, so PromQL's lookback always finds it, until an
    ``Event`` with ``gone`` set says the device no longer exists. It is the same heartbeat
    that ``report: {mode: on_change}`` keeps for polled values.

    A connector whose device and metric names come from what its source publishes (MQTT
    topics) sets ``open_names``: the runtime then caps the devices and metric names of each of
    its entries by default, so a flood of new topics cannot grow the collector without bound.
    One whose incoming queue is bounded counts what it had to drop in ``dropped``.
    """

    config_model: ClassVar[type[BaseModel]]
    push: bool = False
    changes_only: bool = False
    open_names: bool = False

    def __init__(self, config: ConfigT) -> None:
        self.config = config

    @abc.abstractmethod
    async def connect(self) -> None:
        """Open the connection to the device or broker."""

    @abc.abstractmethod
    def read(self) -> AsyncIterator[Sample]:
        """Yield readings and events (one poll's worth, or until closed for push)."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Release every resource; safe to call twice."""

    def dropped(self) -> int:
        """Return how many incoming messages the connector dropped so far (its queue was full)."""
        return 0

    def devices(self) -> Sequence[DeviceSchedule]:
        """Return the devices the runtime may poll one at a time; empty means use ``read``."""
        return ()

    def poll(self, device: str) -> AsyncIterator[Sample]:
        """Yield one poll's samples of one device listed by ``devices``."""
        raise NotImplementedError(f"{type(self).__name__} does not poll devices one at a time")
