"""Simple JSON paths: dotted keys with list indices, such as ``sensors.temp`` or ``values[0]``."""

from __future__ import annotations

import math
import re

PathKey = str | int
_PART = re.compile(r"(?P<name>[^.\[\]]*)(?P<indices>(?:\[\d+\])*)")
_INDEX = re.compile(r"\[(\d+)\]")


class PathError(LookupError):
    """Raise when a JSON path does not lead to a value in a document."""


def parse_path(text: str) -> tuple[PathKey, ...]:
    """Return the keys and indices of a dotted path; raise ValueError when it is malformed."""
    if not text:
        raise ValueError("a JSON path must not be empty")
    keys: list[PathKey] = []
    for position, part in enumerate(text.split(".")):
        match = _PART.fullmatch(part)
        if match is None:
            raise ValueError(f"malformed JSON path {text!r}: bad part {part!r}")
        name, indices = match.group("name"), match.group("indices")
        if not name and not (position == 0 and indices):
            raise ValueError(f"malformed JSON path {text!r}: empty key")
        if name:
            keys.append(name)
        keys.extend(int(i) for i in _INDEX.findall(indices))
    return tuple(keys)


def format_path(keys: tuple[PathKey, ...]) -> str:
    """Return the dotted text of a parsed path."""
    text = ""
    for key in keys:
        if isinstance(key, int):
            text += f"[{key}]"
        else:
            text += f".{key}" if text else key
    return text


def resolve(document: object, keys: tuple[PathKey, ...]) -> object:
    """Return the value at ``keys`` in a decoded JSON document; raise PathError if absent."""
    value = document
    for depth, key in enumerate(keys):
        if isinstance(key, int):
            if not isinstance(value, list) or key >= len(value):
                raise PathError(f"no item {format_path(keys[: depth + 1])}")
            value = value[key]
        else:
            if not isinstance(value, dict) or key not in value:
                raise PathError(f"no key {format_path(keys[: depth + 1])}")
            value = value[key]
    return value


def as_number(value: object) -> float | None:
    """Return a JSON value as a finite float (booleans as 0 and 1), or None if it is not one."""
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        number = float(value)
        return number if math.isfinite(number) else None
    return None
