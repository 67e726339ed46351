"""What a device's ``exposes`` (in ``bridge/devices``) say about the fields of its state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from sentio.connectors.units import to_ucum

Kind = Literal["numeric", "binary", "enum", "text"]
# Zigbee2MQTT's access bits: 1 the state message carries the property, 2 settable, 4 gettable
_PUBLISHED = 1
_CONTAINERS = {"switch", "light", "lock", "climate", "fan", "cover"}


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One state field as the device's exposes describe it."""

    kind: Kind
    unit: str = ""
    value_on: object = None
    value_off: object = None
    values: tuple[str, ...] = field(default_factory=tuple)


def _published(expose: Mapping[str, object]) -> bool:
    access = expose.get("access")
    return not isinstance(access, int) or bool(access & _PUBLISHED)


def _field(expose: Mapping[str, object]) -> FieldSpec | None:
    kind = expose.get("type")
    unit = expose.get("unit")
    ucum = to_ucum(unit) if isinstance(unit, str) else ""
    if kind == "numeric":
        return FieldSpec("numeric", ucum)
    if kind == "binary":
        return FieldSpec(
            "binary", value_on=expose.get("value_on"), value_off=expose.get("value_off")
        )
    if kind == "enum":
        values = expose.get("values")
        names = tuple(v for v in values if isinstance(v, str)) if isinstance(values, list) else ()
        return FieldSpec("enum", values=names)
    if kind == "text":
        return FieldSpec("text")
    return None


def fields(exposes: object, prefix: str = "") -> dict[str, FieldSpec]:
    """Return the state fields an ``exposes`` list describes, named as ``flatten`` names them."""
    found: dict[str, FieldSpec] = {}
    if not isinstance(exposes, list):
        return found
    for expose in exposes:
        if not isinstance(expose, dict):
            continue
        kind, prop, features = expose.get("type"), expose.get("property"), expose.get("features")
        if kind in _CONTAINERS:
            found.update(fields(features, prefix))
        elif kind == "composite" and isinstance(prop, str):
            found.update(fields(features, f"{prefix}{prop}_"))
        elif isinstance(prop, str) and _published(expose):
            described = _field(expose)
            if described is not None:
                found.setdefault(f"{prefix}{prop}", described)
    return found
