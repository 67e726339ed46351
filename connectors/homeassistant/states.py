"""Turn Home Assistant state objects into readings and events, remembering what was reported."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sentio.connectors.contract import (
    STATE,
    AttributeValue,
    Event,
    Quality,
    Reading,
    Sample,
    Severity,
    now_ns,
)

from .config import HomeAssistantConfig
from .units import to_ucum

STATE_METRIC = "state"
UNAVAILABLE = "unavailable"
UNKNOWN = "unknown"
_QUALITY = {UNAVAILABLE: Quality.BAD, UNKNOWN: Quality.UNCERTAIN}
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NOT_FINITE = frozenset({"nan", "+nan", "-nan", "inf", "+inf", "-inf", "infinity", "-infinity"})
_NUMERIC_HINTS = ("unit_of_measurement", "state_class")
_TIMESTAMP_KEYS = ("last_reported", "last_updated", "last_changed")
_PREVIEW = 80
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def preview(value: object) -> str:
    """Return ``repr(value)`` cut to a length fit for an event body."""
    text = repr(value)
    return text if len(text) <= _PREVIEW else text[: _PREVIEW - 1] + "…"


@dataclass(frozen=True, slots=True)
class EntityState:
    """One entity's state as Home Assistant reports it."""

    entity_id: str
    state: str
    attributes: Mapping[str, object]
    timestamp_ns: int

    @property
    def domain(self) -> str:
        """Return the part of the entity id before the dot."""
        return self.entity_id.partition(".")[0]

    @property
    def object_id(self) -> str:
        """Return the part of the entity id after the dot."""
        return self.entity_id.partition(".")[2]

    @property
    def numeric_hint(self) -> bool:
        """Return whether the attributes say the state is a measurement."""
        return any(key in self.attributes for key in _NUMERIC_HINTS)


def parse_timestamp(value: object) -> int | None:
    """Return an ISO 8601 timestamp in nanoseconds since the epoch (naive means UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _EPOCH) // timedelta(microseconds=1) * 1000


def parse_state(data: object) -> EntityState:
    """Validate a state object; raise ValueError naming what is wrong with it."""
    if not isinstance(data, dict):
        raise ValueError(f"a state must be a JSON object, not {preview(data)}")
    entity_id = data.get("entity_id")
    if not isinstance(entity_id, str) or not re.fullmatch(r"[a-z0-9_]+\.\S+", entity_id):
        raise ValueError(f"a state has no valid entity_id: {preview(entity_id)}")
    state = data.get("state")
    if not isinstance(state, str):
        raise ValueError(f"{entity_id}: state must be a string, not {preview(state)}")
    attributes = data.get("attributes", {})
    if not isinstance(attributes, dict):
        raise ValueError(f"{entity_id}: attributes must be an object, not {preview(attributes)}")
    stamps = (parse_timestamp(data.get(key)) for key in _TIMESTAMP_KEYS)
    timestamp = next((s for s in stamps if s is not None), None)
    return EntityState(entity_id, state, attributes, now_ns() if timestamp is None else timestamp)


def parse_number(text: str) -> float | None:
    """Return ``text`` as a float if it is written as a decimal number, else None."""
    return float(text) if _NUMBER.fullmatch(text.strip()) else None


def _between_numbers(old: str, reading: Reading) -> bool:
    """Return whether a change went from one number to another, which needs no event."""
    good_number = isinstance(reading.value, float) and reading.quality is Quality.GOOD
    return good_number and parse_number(old) is not None


@dataclass(slots=True)
class _Known:
    state: str
    updated_ns: int
    numeric: bool
    reading: Reading


class StateTracker:
    """Convert states to samples and remember each entity's last state and reading."""

    def __init__(self, config: HomeAssistantConfig) -> None:
        self.config = config
        self.known: dict[str, _Known] = {}

    def snapshot(self, states: object, *, full: bool = True) -> list[Sample]:
        """Convert a list of every state (``get_states``, ``/api/states``).

        ``full`` yields a reading for every entity; otherwise only for the changed ones.
        Entities gone from the list are forgotten, with an INFO event.
        """
        if not isinstance(states, list):
            return [self.warning(f"the list of states is {preview(states)}, not a list")]
        samples: list[Sample] = []
        seen: set[str] = set()
        for data in states:
            try:
                entity = parse_state(data)
            except ValueError as exc:
                samples.append(self.warning(str(exc)))
                continue
            seen.add(entity.entity_id)
            known = self.known.get(entity.entity_id)
            unchanged = (
                known is not None
                and known.updated_ns == entity.timestamp_ns
                and known.state == entity.state
            )
            if full or not unchanged:
                samples.extend(self.update(entity, None if known is None else known.state))
        for entity_id in sorted(set(self.known) - seen):
            del self.known[entity_id]
            samples.append(self._gone(entity_id))
        return samples

    def changed(self, data: object) -> list[Sample]:
        """Convert the data of one ``state_changed`` event."""
        if not isinstance(data, dict):
            return [self.warning(f"state_changed data is {preview(data)}, not an object")]
        new_state = data.get("new_state")
        if new_state is None:
            entity_id = data.get("entity_id")
            if isinstance(entity_id, str) and self.known.pop(entity_id, None) is not None:
                return [self._gone(entity_id)]
            return []
        try:
            entity = parse_state(new_state)
        except ValueError as exc:
            return [self.warning(f"state_changed: {exc}")]
        old_state = data.get("old_state")
        old = old_state.get("state") if isinstance(old_state, dict) else None
        if not isinstance(old, str):
            known = self.known.get(entity.entity_id)
            old = None if known is None else known.state
        return self.update(entity, old)

    def update(self, entity: EntityState, old: str | None) -> list[Sample]:
        """Convert one entity's new state, given its previous state if known."""
        if not self.config.wanted(entity.entity_id):
            return []
        known = self.known.get(entity.entity_id)
        numeric = entity.numeric_hint or (known is not None and known.numeric)
        samples: list[Sample] = []
        value: float | str
        quality = _QUALITY.get(entity.state, Quality.GOOD)
        number = parse_number(entity.state)
        if quality is not Quality.GOOD:
            value = math.nan if numeric else entity.state
        elif number is not None and math.isfinite(number):
            value, numeric = number, True
        elif number is not None or (numeric and entity.state.strip().lower() in _NOT_FINITE):
            return [self._not_finite(entity)]
        else:
            value = entity.state
        metric, unit = self.metric(entity, numeric=isinstance(value, float)), STATE
        if isinstance(value, float):
            unit = self.unit(entity)
            if quality is not Quality.GOOD and known and isinstance(known.reading.value, float):
                metric, unit = known.reading.metric, known.reading.unit
        reading = Reading(
            device=entity.entity_id,
            metric=metric,
            value=value,
            unit=unit,
            timestamp_ns=entity.timestamp_ns,
            attributes=self.attributes(entity),
            quality=quality,
        )
        samples.append(reading)
        if old is not None and old != entity.state and not _between_numbers(old, reading):
            samples.append(self._change(entity, old))
        self.known[entity.entity_id] = _Known(entity.state, entity.timestamp_ns, numeric, reading)
        return samples

    def metric(self, entity: EntityState, *, numeric: bool) -> str:
        """Return the metric name of ``entity`` (see the connector's docstring)."""
        override = self.config.metrics.get(entity.entity_id)
        if override is not None:
            return override
        if not numeric:
            return STATE_METRIC
        device_class = entity.attributes.get("device_class")
        if (
            self.config.metric == "device_class"
            and isinstance(device_class, str)
            and re.fullmatch(r"[a-z][a-z0-9_]*", device_class)
        ):
            return device_class
        return entity.object_id

    def unit(self, entity: EntityState) -> str:
        """Return the UCUM unit of ``entity``'s ``unit_of_measurement``."""
        unit = entity.attributes.get("unit_of_measurement")
        return to_ucum(unit if isinstance(unit, str) else None, self.config.units)

    @staticmethod
    def attributes(entity: EntityState) -> dict[str, AttributeValue]:
        """Return the attributes every sample about ``entity`` carries."""
        out: dict[str, AttributeValue] = {"entity_id": entity.entity_id, "domain": entity.domain}
        for key in ("friendly_name", "device_class"):
            value = entity.attributes.get(key)
            if isinstance(value, str) and value:
                out[key] = value
        return out

    def warning(self, problem: str) -> Event:
        """Return a WARN event about bad input from the server."""
        return Event(
            device=self.config.label,
            body=f"Home Assistant at {self.config.label} sent bad input: {problem}",
            severity=Severity.WARN,
            attributes={"server": self.config.label, "error": "bad_input"},
        )

    def _not_finite(self, entity: EntityState) -> Event:
        return Event(
            device=entity.entity_id,
            body=f"{entity.entity_id}: state {entity.state!r} is not a finite number; skipped",
            severity=Severity.WARN,
            attributes={**self.attributes(entity), "error": "not_finite"},
        )

    def _change(self, entity: EntityState, old: str) -> Event:
        return Event(
            device=entity.entity_id,
            body=f"{entity.entity_id}: {old} -> {entity.state}",
            severity=Severity.WARN if entity.state == UNAVAILABLE else Severity.INFO,
            timestamp_ns=entity.timestamp_ns,
            attributes={**self.attributes(entity), "old_state": old, "new_state": entity.state},
        )

    def _gone(self, entity_id: str) -> Event:
        return Event(
            device=entity_id,
            body=f"{entity_id}: removed from Home Assistant",
            severity=Severity.INFO,
            attributes={"entity_id": entity_id, "domain": entity_id.partition(".")[0]},
            gone=True,
        )
