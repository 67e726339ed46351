"""Turn MQTT messages into readings, or WARN events when a payload cannot be read."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

from sentio.connectors.contract import Event, Reading, Sample, Severity

from .config import Subscription
from .paths import PathError, PathKey, as_number, parse_path, resolve
from .topics import TopicTemplate

PREVIEW_CHARS = 40


def preview(payload: bytes) -> str:
    """Return a short printable quotation of a payload for an event body."""
    text = payload.decode("utf-8", errors="replace")
    if len(text) > PREVIEW_CHARS:
        text = text[:PREVIEW_CHARS] + "..."
    return repr(text)


def parse_number(payload: bytes) -> float | None:
    """Return a plain-text payload as a finite float, or None if it is not one."""
    try:
        number = float(payload.decode("utf-8").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return number if math.isfinite(number) else None


@dataclass(frozen=True, slots=True)
class Route:
    """A subscription compiled for matching and decoding."""

    subscription: Subscription
    template: TopicTemplate
    paths: tuple[tuple[PathKey, ...], ...]

    @classmethod
    def compile(cls, subscription: Subscription) -> Route:
        """Compile a validated subscription."""
        return cls(
            subscription,
            TopicTemplate.parse(subscription.topic),
            tuple(parse_path(f.path) for f in subscription.fields),
        )

    def decode(
        self, topic: str, captured: dict[str, str], payload: bytes, now: int
    ) -> list[Sample]:
        """Decode one payload of a topic this route matched."""
        sub = self.subscription
        device = captured.get("device") or sub.device or topic
        attributes = {k: v for k, v in captured.items() if k not in {"device", "metric"}}
        attributes["topic"] = topic

        def warn(problem: str) -> Event:
            return Event(
                device=device,
                body=f"{topic}: {problem}",
                severity=Severity.WARN,
                timestamp_ns=now,
                attributes=attributes,
            )

        if sub.payload == "number":
            number = parse_number(payload)
            if number is None:
                return [warn(f"payload is not a number: {preview(payload)}")]
            metric = captured.get("metric") or sub.metric or ""
            return [Reading(device, metric, number, sub.unit or "", now, attributes=attributes)]
        try:
            document = json.loads(payload)
        except (ValueError, RecursionError) as exc:  # too deeply nested: RecursionError
            return [warn(f"payload is not valid JSON ({exc}): {preview(payload)}")]
        samples: list[Sample] = []
        for field, keys in zip(sub.fields, self.paths, strict=True):
            try:
                value = resolve(document, keys)
            except PathError as exc:
                samples.append(warn(f"{field.path}: {exc}"))
                continue
            number = as_number(value)
            if number is None:
                samples.append(warn(f"{field.path} is not a number: {json.dumps(value)[:60]}"))
                continue
            samples.append(Reading(device, field.metric, number, field.unit, now, attributes))
        return samples


def decode_message(routes: Sequence[Route], topic: str, payload: bytes, now: int) -> list[Sample]:
    """Decode a message with the first route whose template matches its topic."""
    for route in routes:
        captured = route.template.match(topic)
        if captured is not None:
            return route.decode(topic, captured, payload, now)
    return []
