"""How a poll span records its readings: one ``metric=value ...`` string per device."""

from __future__ import annotations

from sentio.collectors.attributes import ATTRIBUTE_SETS_CACHED
from sentio.connectors.contract import Reading, ReadingBatch


class SpanValues:
    """Format samples for a poll span, with one format template per batch layout."""

    def __init__(self) -> None:
        self.templates: dict[int, tuple[object, str]] = {}

    def format(self, sample: Reading | ReadingBatch) -> str:
        """Return a sample's values as the poll span records them: ``metric=value ...``."""
        if isinstance(sample, Reading):
            return f"{sample.metric}={sample.value}"
        metrics = sample.metrics
        hit = self.templates.get(id(metrics))
        if hit is None or hit[0] is not metrics or len(metrics) != len(sample.values):
            if len(self.templates) >= ATTRIBUTE_SETS_CACHED:
                self.templates.clear()
            template = " ".join(f"{name.replace('%', '%%')}=%s" for name, _unit in metrics)
            hit = self.templates[id(metrics)] = (metrics, template)
        try:
            return hit[1] % tuple(sample.values)
        except TypeError:  # values and metrics differ in number: the batch itself raises later
            return ""
