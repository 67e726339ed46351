"""A histogram counted here and exported with the SDK's metrics, for values recorded very often.

The SDK's ``Histogram.record`` builds a measurement, cleans, copies and hashes its attributes on
every call (about 11 µs; the collector records one per poll, thousands a second). Here a record
is a dict lookup by a key the caller already has and a bucket count, about 1 µs; at each export
``metric`` turns the counts into the cumulative points the SDK's explicit-bucket aggregation
would have exported (``sentio.telemetry.MetricExporter`` adds them to the export).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    HistogramDataPoint,
    Metric,
)
from opentelemetry.sdk.metrics.export import Histogram as HistogramData

# the attribute set the SDK merges the rest into past its cardinality limit
OVERFLOW_ATTRIBUTES: Mapping[str, Any] = {"otel.metric.overflow": True}
_OVERFLOW_KEY = object()


class _Point:
    """One attribute set's counts since the process started."""

    __slots__ = ("attributes", "counts", "max", "min", "start_ns", "sum")

    def __init__(self, attributes: Mapping[str, Any], buckets: int) -> None:
        self.attributes = dict(attributes)
        self.counts = [0] * buckets
        self.sum = 0.0
        self.min = math.inf
        self.max = -math.inf
        self.start_ns = time.time_ns()


class Histogram:
    """Count values into explicit buckets, one point per key, for ``MetricExporter`` to export.

    A bucket holds the values above the boundary before it and up to its own, as the SDK's.
    Records come from one thread (the event loop); ``metric`` may run on the metric reader's.
    """

    def __init__(
        self, name: str, unit: str, description: str, boundaries: Sequence[float],
        max_attribute_sets: int,
    ) -> None:  # fmt: skip
        self.name = name
        self.unit = unit
        self.description = description
        self.boundaries = tuple(boundaries)
        self.max_attribute_sets = max_attribute_sets
        self._points: dict[object, _Point] = {}

    def record(self, value: float, key: Hashable, attributes: Mapping[str, Any]) -> None:
        """Count ``value`` for ``key``, whose attributes are ``attributes`` (read once, copied)."""
        point = self._points.get(key)
        if point is None:
            point = self._point(key, attributes)
        point.counts[bisect.bisect_left(self.boundaries, value)] += 1
        point.sum += value
        if value < point.min:
            point.min = value
        if value > point.max:
            point.max = value

    def _point(self, key: Hashable, attributes: Mapping[str, Any]) -> _Point:
        if len(self._points) >= self.max_attribute_sets:
            key, attributes = _OVERFLOW_KEY, OVERFLOW_ATTRIBUTES
            point = self._points.get(key)
            if point is not None:
                return point
        point = self._points[key] = _Point(attributes, len(self.boundaries) + 1)
        return point

    def metric(self) -> Metric | None:
        """Return every point's cumulative counts now; None before the first record."""
        now = time.time_ns()
        points = []
        for point in tuple(self._points.values()):  # one step under the GIL: a copy
            counts = list(point.counts)
            points.append(
                HistogramDataPoint(
                    attributes=point.attributes,
                    start_time_unix_nano=point.start_ns,
                    time_unix_nano=now,
                    count=sum(counts),  # the buckets' own sum, whatever a record adds meanwhile
                    sum=point.sum,
                    bucket_counts=counts,
                    explicit_bounds=self.boundaries,
                    min=point.min,
                    max=point.max,
                )
            )
        if not points:
            return None
        data = HistogramData(points, AggregationTemporality.CUMULATIVE)
        return Metric(self.name, self.description, self.unit, data)
