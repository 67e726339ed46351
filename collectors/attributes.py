"""Data-point attributes: one shared dict per device, quality and attribute set."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sentio.connectors.contract import Quality, Reading, ReadingBatch

ATTRIBUTE_SETS_CACHED = 10_000


@dataclass
class AttributeCache:
    """Merge a reading's attributes with its identity, once per distinct set."""

    connector: str
    instance: str
    by_content: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)
    by_identity: dict[int, tuple[object, str, Quality, dict[str, Any]]] = field(
        default_factory=dict
    )

    def point(self, reading: Reading | ReadingBatch) -> dict[str, Any]:
        """Return the attributes of a reading's sample, one shared dict per device and set."""
        attrs = reading.attributes
        hit = self.by_identity.get(id(attrs))
        if (
            hit is not None
            and hit[0] is attrs
            and hit[1] == reading.device
            and hit[2] is reading.quality
        ):
            return hit[3]
        if len(self.by_identity) >= ATTRIBUTE_SETS_CACHED:
            self.by_identity.clear()
            self.by_content.clear()
        key = (reading.device, reading.quality, tuple(attrs.items()))
        merged = self.by_content.get(key)
        if merged is None:
            merged = self.by_content[key] = {
                **attrs,
                "device": reading.device,
                "connector": self.connector,
                "instance": self.instance,
            }
            if reading.quality is not Quality.GOOD:
                merged["quality"] = reading.quality.value
        # keeping ``attrs`` in the entry keeps its id from being reused by another dict
        self.by_identity[id(attrs)] = (attrs, reading.device, reading.quality, merged)
        return merged
