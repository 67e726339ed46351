"""Frame many series' samples as OTLP gauge data points with numpy, no object per sample.

A data point is its field header and attributes (the same for every sample of a series, so
encoded once: its *prefix*) followed by the fixed64 time and the double value. Rows of
samples with prefixes of one length are laid out as one structured array and copied out whole.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Metric,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from sentio import __version__
from sentio.otlp import (
    _TIME_TAG,
    _VALUE_TAG,
    AttributeValue,
    _field,
    _key_values,
    _tag,
)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
MetricKey = tuple[str, str]  # name, unit


class PrefixTable:
    """The prefixes of a block's rows, grouped by length for structured copies."""

    def __init__(self, prefixes: Sequence[bytes]) -> None:
        self.lengths = np.fromiter(map(len, prefixes), np.int64, len(prefixes))
        self.position = np.zeros(len(prefixes), dtype=np.int64)
        self.tables: dict[int, npt.NDArray[np.void]] = {}
        for n in np.unique(self.lengths).tolist():
            members = np.flatnonzero(self.lengths == n)
            self.position[members] = np.arange(len(members))
            joined = b"".join(prefixes[i] for i in members.tolist())
            self.tables[n] = np.frombuffer(joined, dtype=f"V{n}")

    def frame(self, rows: IntArray, time_ns: npt.NDArray[np.uint64], values: FloatArray) -> bytes:
        """Return the data points (row prefix, time, value) of every sample, back to back."""
        lengths = self.lengths[rows]
        parts = []
        for n, table in self.tables.items():
            pick = lengths == n if len(self.tables) > 1 else slice(None)
            layout = np.dtype(
                [("prefix", f"V{n}"), ("time_tag", "u1"), ("time", "<u8"),
                 ("value_tag", "u1"), ("value", "<f8")]
            )  # fmt: skip
            out = np.empty(len(rows) if isinstance(pick, slice) else int(pick.sum()), layout)
            out["prefix"] = table[self.position[rows[pick]]]
            out["time_tag"] = _TIME_TAG
            out["time"] = time_ns[pick]
            out["value_tag"] = _VALUE_TAG
            out["value"] = values[pick]
            parts.append(out.tobytes())
        return b"".join(parts)


def request(
    resource: Mapping[str, AttributeValue], scope: str, metrics: Mapping[MetricKey, Sequence[bytes]]
) -> bytes:
    """Return a serialized ExportMetricsServiceRequest of gauges from framed data points."""
    # VictoriaMetrics keeps the previous metric's unit for one without: unit-less ones first.
    ordered = sorted(metrics.items(), key=lambda item: item[0][1] != "")
    parts = [
        ScopeMetrics(
            scope=InstrumentationScope(name=scope, version=__version__)
        ).SerializeToString()
    ]
    for (name, unit), points in ordered:
        header = Metric(name=name, unit=unit).SerializeToString()
        gauge = b"".join(points)
        gauge_field = _tag(5, len(gauge))
        parts += [_tag(2, len(header) + len(gauge_field) + len(gauge)), header, gauge_field, gauge]
    resource_metrics = ResourceMetrics(
        resource=Resource(attributes=_key_values(resource))
    ).SerializeToString() + _field(2, b"".join(parts))
    return _field(1, resource_metrics)
