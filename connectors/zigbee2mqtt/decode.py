"""Turn Zigbee2MQTT's messages into readings and events; keeps device metadata and availability.

A state field is read as the device's ``exposes`` (from ``bridge/devices``) describe it: a
number gets the exposes' unit (in UCUM), a binary becomes 1/0 through its ``value_on`` and
``value_off`` (``"ON"``/``"OFF"``, ``"LOCK"``/``"UNLOCK"``), and an enum a state-set: one series
per listed value, labelled ``state``, 1 for the current value and 0 for the others. Other
strings are logged when they change. Without exposes, JSON booleans are 1/0 and numbers take
the built-in units.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections.abc import Mapping

from sentio.connectors.contract import (
    BOOL,
    NO_UNIT,
    STATE,
    AttributeValue,
    Event,
    Reading,
    Sample,
    Severity,
)
from sentio.connectors.mqtt.decode import preview

from .config import Zigbee2MqttConfig
from .exposes import FieldSpec, fields

BRIDGE = "bridge"
# availability and text values remembered, at most: a flood of new names past it is decoded
# but not remembered (the collector caps and counts the names themselves)
TRACKED_MAX = 10_000
DEFAULT_UNITS: Mapping[str, str] = {
    "temperature": "Cel",
    "local_temperature": "Cel",
    "device_temperature": "Cel",
    "current_heating_setpoint": "Cel",
    "occupied_heating_setpoint": "Cel",
    "humidity": "%",
    "soil_moisture": "%",
    "pressure": "hPa",
    "battery": "%",
    "linkquality": "{lqi}",
    "voltage": "mV",
    "power": "W",
    "energy": "kW.h",
    "current": "A",
    "illuminance": "lx",
    "illuminance_lux": "lx",
    "co2": "[ppm]",
    "voc": "[ppb]",
    "pm25": "ug/m3",
    "pm10": "ug/m3",
    "position": "%",
}
METADATA_KEYS = ("ieee_address", "model", "vendor", "power_source")
# the time of the message itself, which the reading's timestamp already says
SKIPPED = frozenset({"last_seen"})
LOG_LEVELS: Mapping[str, Severity] = {
    "debug": Severity.DEBUG,
    "info": Severity.INFO,
    "warning": Severity.WARN,
    "warn": Severity.WARN,
    "error": Severity.ERROR,
}


def device_metadata(entry: Mapping[str, object]) -> dict[str, AttributeValue]:
    """Return the attributes of one entry of ``bridge/devices``."""
    definition = entry.get("definition")
    definition = definition if isinstance(definition, dict) else {}
    found = {
        "ieee_address": entry.get("ieee_address"),
        "model": definition.get("model") or entry.get("model_id"),
        "vendor": definition.get("vendor") or entry.get("manufacturer"),
        "power_source": entry.get("power_source"),
    }
    return {k: v for k, v in found.items() if isinstance(v, str) and v}


def flatten(state: Mapping[str, object], prefix: str = "") -> list[tuple[str, object]]:
    """Return the fields of a state message, nested objects joined with ``_``."""
    fields: list[tuple[str, object]] = []
    for key, value in state.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            fields.extend(flatten(value, f"{name}_"))
        else:
            fields.append((name, value))
    return fields


class Zigbee2MqttDecoder:
    """Decode the messages below one Zigbee2MQTT base topic."""

    def __init__(self, config: Zigbee2MqttConfig) -> None:
        self.config = config
        self.units = {**DEFAULT_UNITS, **config.units}
        self.devices: dict[str, dict[str, AttributeValue]] = {}
        self.fields: dict[str, dict[str, FieldSpec]] = {}
        self.available: dict[str, bool] = {}
        self.bridge_online = True
        self._texts: dict[tuple[str, str], str] = {}
        self._prefix = config.base_topic + "/"

    @property
    def topic_filter(self) -> str:
        """Return the MQTT filter that covers every Zigbee2MQTT topic."""
        return self._prefix + "#"

    def wanted(self, name: str) -> bool:
        """Return whether the include and exclude globs let a friendly name through."""
        config = self.config
        if config.include and not any(fnmatch.fnmatchcase(name, g) for g in config.include):
            return False
        return not any(fnmatch.fnmatchcase(name, g) for g in config.exclude)

    def unit(self, field: str, device: str = "") -> str:
        """Return the UCUM unit of a field: configured, else the device's exposes, else built in."""
        if field in self.config.units:
            return self.config.units[field]
        spec = self.fields.get(device, {}).get(field)
        if spec is not None and spec.unit:
            return spec.unit
        return self.units.get(field, NO_UNIT)

    def decode(self, topic: str, payload: bytes, now: int) -> list[Sample]:
        """Decode one message; topics outside the base topic give nothing."""
        if not topic.startswith(self._prefix):
            return []
        rest = topic[len(self._prefix) :]
        if rest == "bridge/devices":
            return self._devices(topic, payload, now)
        if rest == "bridge/event":
            return self._bridge_event(topic, payload, now)
        if rest == "bridge/logging":
            return self._bridge_log(topic, payload, now)
        if rest == "bridge/state":
            return self._bridge_state(topic, payload, now)
        if rest.startswith("bridge/") or not rest:
            return []
        parts = rest.split("/")
        if any(p in {"set", "get"} for p in parts[1:]):
            return []
        if parts[-1] == "availability" and len(parts) > 1:
            name = rest[: -len("/availability")]
            return self._availability(name, topic, payload, now) if self.wanted(name) else []
        return self._state(rest, topic, payload, now) if self.wanted(rest) else []

    def _warn(self, device: str, topic: str, problem: str, now: int) -> Event:
        return Event(device, f"{topic}: {problem}", Severity.WARN, now, {"topic": topic})

    def _json(self, payload: bytes) -> object:
        try:
            return json.loads(payload)
        except (ValueError, RecursionError):  # too deeply nested: RecursionError
            return None

    def _devices(self, topic: str, payload: bytes, now: int) -> list[Sample]:
        document = self._json(payload)
        if not isinstance(document, list):
            return [self._warn(BRIDGE, topic, f"expected a JSON list: {preview(payload)}", now)]
        entries = [
            entry
            for entry in document
            if isinstance(entry, dict)
            and isinstance(entry.get("friendly_name"), str)
            and entry.get("type") != "Coordinator"
        ]
        before = set(self.devices)
        self.devices = {entry["friendly_name"]: device_metadata(entry) for entry in entries}
        self.fields = {}
        for entry in entries:
            definition = entry.get("definition")
            if isinstance(definition, dict):
                self.fields[entry["friendly_name"]] = fields(definition.get("exposes"))
        return [
            Event(name, f"{name} is no longer in bridge/devices", Severity.INFO, now, gone=True)
            for name in sorted(before - set(self.devices))
            if self.wanted(name)
        ]

    def _bridge_event(self, topic: str, payload: bytes, now: int) -> list[Sample]:
        document = self._json(payload)
        if not isinstance(document, dict) or not isinstance(document.get("type"), str):
            return [self._warn(BRIDGE, topic, f"expected a JSON event: {preview(payload)}", now)]
        kind: str = document["type"]
        data = document.get("data")
        data = data if isinstance(data, dict) else {}
        name = data.get("friendly_name")
        device = name if isinstance(name, str) and name else BRIDGE
        details = ", ".join(
            f"{k}={v}" for k, v in data.items() if isinstance(v, str | int | float | bool)
        )
        attributes: dict[str, AttributeValue] = {"topic": topic, "event": kind}
        attributes.update(self.devices.get(device, {}))
        severity = Severity.WARN if data.get("status") == "failed" else Severity.INFO
        body = f"bridge event {kind}: {details}" if details else f"bridge event {kind}"
        return [Event(device, body, severity, now, attributes)]

    def _bridge_log(self, topic: str, payload: bytes, now: int) -> list[Sample]:
        document = self._json(payload)
        if not isinstance(document, dict) or not isinstance(document.get("message"), str):
            return [self._warn(BRIDGE, topic, f"expected a JSON log: {preview(payload)}", now)]
        level = str(document.get("level", "info")).lower()
        severity = LOG_LEVELS.get(level, Severity.INFO)
        return [Event(BRIDGE, document["message"], severity, now, {"topic": topic})]

    def _online(self, topic: str, payload: bytes) -> bool | None:
        document = self._json(payload)
        state = document.get("state") if isinstance(document, dict) else None
        if state is None:
            state = payload.decode("utf-8", errors="replace").strip()
        if state not in ("online", "offline"):  # a tuple: the JSON value may be unhashable
            return None
        return state == "online"

    def _availability(self, name: str, topic: str, payload: bytes, now: int) -> list[Sample]:
        online = self._online(topic, payload)
        if online is None:
            return [self._warn(name, topic, f"unknown availability {preview(payload)}", now)]
        attributes = self.devices.get(name, {})
        samples: list[Sample] = [
            Reading(name, "available", 1.0 if online else 0.0, BOOL, now, attributes)
        ]
        if self.available.get(name) != online:
            if name in self.available or len(self.available) < TRACKED_MAX:
                self.available[name] = online  # bounded: a flood of names cannot grow it
            if self.bridge_online:
                samples.append(self._reach(name, online, f"{name} is {_word(online)}", now))
        return samples

    def _reach(self, name: str, online: bool, body: str, now: int) -> Event:
        severity = Severity.INFO if online else Severity.WARN
        attributes = {**self.devices.get(name, {}), "available": online}
        return Event(name, body, severity, now, attributes, available=online)

    def _bridge_state(self, topic: str, payload: bytes, now: int) -> list[Sample]:
        online = self._online(topic, payload)
        if online is None:
            return [self._warn(BRIDGE, topic, f"unknown bridge state {preview(payload)}", now)]
        samples: list[Sample] = [Reading(BRIDGE, "available", 1.0 if online else 0.0, BOOL, now)]
        if online == self.bridge_online:
            return samples
        self.bridge_online = online
        body = f"the bridge is {_word(online)}"
        samples.append(self._reach(BRIDGE, online, body, now))
        for name in self.devices:
            if self.wanted(name) and self.available.get(name, True):
                samples.append(self._reach(name, online, f"{name}: {body}", now))
        return samples

    def _state(self, name: str, topic: str, payload: bytes, now: int) -> list[Sample]:
        document = self._json(payload)
        if not isinstance(document, dict):
            return [self._warn(name, topic, f"expected a JSON object: {preview(payload)}", now)]
        attributes = self.devices.get(name, {})
        specs = self.fields.get(name, {})
        samples: list[Sample] = []
        for field, value in flatten(document):
            if field in SKIPPED:
                continue
            spec = specs.get(field)
            if (
                spec is not None
                and spec.kind == "binary"
                and value in (spec.value_on, spec.value_off)
            ):
                on = 1.0 if value == spec.value_on else 0.0
                samples.append(Reading(name, field, on, BOOL, now, attributes))
            elif spec is not None and spec.kind == "enum" and value in spec.values:
                samples.extend(
                    Reading(name, field, 1.0 if v == value else 0.0, STATE, now,
                            {**attributes, "state": v})
                    for v in spec.values
                )  # fmt: skip
            elif isinstance(value, bool):
                samples.append(Reading(name, field, 1.0 if value else 0.0, BOOL, now, attributes))
            elif isinstance(value, int | float) and math.isfinite(value):
                unit = self.unit(field, name)
                samples.append(Reading(name, field, float(value), unit, now, attributes))
            elif isinstance(value, str) and self._texts.get((name, field)) != value:
                if (name, field) in self._texts or len(self._texts) < TRACKED_MAX:
                    self._texts[name, field] = value
                samples.append(
                    Event(
                        name,
                        f"{name}: {field} = {value}",
                        Severity.INFO,
                        now,
                        {**attributes, "field": field, "value": value},
                    )
                )
        return samples


def _word(online: bool) -> str:
    return "online" if online else "offline"
