"""How a poll span records its readings: one ``metric=value ...`` string per device."""

from __future__ import annotations

from sentio.collectors.attributes import ATTRIBUTE_SETS_CACHED
from sentio.connectors.contract import Reading, ReadingBatch

# A number to 15 significant digits: what a person reads (230.1, not 230.10000000000002), and
# faster to format than the shortest round-trip repr.
NUMBER = "%.15g"


class SpanValues:
    """Format samples for a poll span, with one format template per batch layout."""

    def __init__(self) -> None:
        self.templates: dict[int, tuple[object, str, str]] = {}

    def format(self, sample: Reading | ReadingBatch) -> str:
        """Return a sample's values as the poll span records them: ``metric=value ...``."""
        if isinstance(sample, Reading):
            value = sample.value
            text = NUMBER % value if isinstance(value, float | int) else str(value)
            return f"{sample.metric}={text}"
        metrics = sample.metrics
        hit = self.templates.get(id(metrics))
        if hit is None or hit[0] is not metrics or len(metrics) != len(sample.values):
            if len(self.templates) >= ATTRIBUTE_SETS_CACHED:
                self.templates.clear()
            names = [name.replace("%", "%%") for name, _unit in metrics]
            numbers = " ".join(f"{name}={NUMBER}" for name in names)
            anything = " ".join(f"{name}=%s" for name in names)
            hit = self.templates[id(metrics)] = (metrics, numbers, anything)
        values = tuple(sample.values)
        try:
            return hit[1] % values  # a bool is a number here too: 1 or 0, as its metric
        except TypeError:
            pass
        try:
            return hit[2] % values  # a string among the values
        except TypeError:  # values and metrics differ in number: the batch itself raises later
            return ""
