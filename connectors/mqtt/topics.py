"""Topic templates: MQTT topic filters whose segments may capture ``{name}`` placeholders.

A placeholder fills one whole segment and subscribes as ``+``; ``{device}`` names the device,
``{metric}`` the metric, and any other name becomes an attribute of the readings. The MQTT
wildcards ``+`` (one segment) and ``#`` (the rest, last segment only) match without capturing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True, slots=True)
class TopicTemplate:
    """A parsed topic template."""

    template: str
    segments: tuple[str, ...]
    captures: tuple[str | None, ...]

    @classmethod
    def parse(cls, template: str) -> TopicTemplate:
        """Parse a template; raise ValueError naming the problem when it is malformed."""
        if not template:
            raise ValueError("a topic template must not be empty")
        segments = tuple(template.split("/"))
        captures: list[str | None] = []
        for index, segment in enumerate(segments):
            placeholder = _PLACEHOLDER.fullmatch(segment)
            if placeholder is not None:
                name = placeholder.group(1)
                if name in captures:
                    raise ValueError(f"placeholder {{{name}}} appears twice in {template!r}")
                captures.append(name)
                continue
            if "{" in segment or "}" in segment:
                raise ValueError(
                    f"bad segment {segment!r} in {template!r}: a placeholder such as "
                    "{device} must fill a whole segment"
                )
            if "#" in segment and (segment != "#" or index != len(segments) - 1):
                raise ValueError(f"'#' must be the whole last segment in {template!r}")
            if "+" in segment and segment != "+":
                raise ValueError(f"'+' must fill a whole segment in {template!r}")
            captures.append(None)
        return cls(template, segments, tuple(captures))

    @property
    def names(self) -> frozenset[str]:
        """Return the placeholder names."""
        return frozenset(c for c in self.captures if c is not None)

    @property
    def filter(self) -> str:
        """Return the MQTT topic filter to subscribe to."""
        return "/".join(
            "+" if c is not None else s for s, c in zip(self.segments, self.captures, strict=True)
        )

    def match(self, topic: str) -> dict[str, str] | None:
        """Return the captured segments if ``topic`` matches, else None."""
        parts = topic.split("/")
        values: dict[str, str] = {}
        for index, (segment, capture) in enumerate(zip(self.segments, self.captures, strict=True)):
            if segment == "#":
                return values
            if index >= len(parts):
                return None
            if capture is not None:
                values[capture] = parts[index]
            elif segment != "+" and segment != parts[index]:
                return None
        return values if len(parts) == len(self.segments) else None
