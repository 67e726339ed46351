"""Write the engine's findings back to VictoriaMetrics as metrics alert rules can use directly.

Names as PromQL sees them (VictoriaMetrics runs with Prometheus naming):

    sentio_ai_anomaly_score                   above 1 when anomalous, below 1 otherwise
    sentio_ai_expected, _lower, _upper        the expected value and its band
    sentio_ai_time_to_threshold_seconds       time until the forecast crosses the threshold
    sentio_ai_fault_risk                      0 low, 1 medium, 2 high; label `risk`
    sentio_ai_fault_risk_confidence           confidence of that risk level, 0..1
    sentio_ai_anomaly_driver                  an anomalous device's top metrics' share of the
                                              score; label `driver` (the metric)

Each carries the source series' labels (its metric name as `metric`) plus `model` and `query`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sentio.otlp import MetricsPusher, Point, encode_gauges

RISK_LEVELS = {"low": 0.0, "medium": 1.0, "high": 2.0}


@dataclass(frozen=True)
class Finding:
    """What the engine concluded about one series at one time."""

    labels: Mapping[str, str]
    timestamp_s: int
    model: str
    query: str
    score: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    time_to_threshold_s: float | None = None
    risk: str | None = None
    risk_confidence: float | None = None
    drivers: Mapping[str, float] | None = None


DRIVERS_KEPT = 3


def output_labels(finding: Finding) -> dict[str, str]:
    """Return the labels of a finding's output series."""
    labels = {k: v for k, v in finding.labels.items() if k != "__name__"}
    if "__name__" in finding.labels:
        labels.setdefault("metric", finding.labels["__name__"])
    labels["model"] = finding.model
    labels["query"] = finding.query
    return labels


def points(finding: Finding) -> list[Point]:
    """Return the output samples of one finding, skipping values that are unknown or not finite."""
    ts = finding.timestamp_s * 1_000_000_000
    attrs = output_labels(finding)
    values: list[tuple[str, float | None, str, Mapping[str, str]]] = [
        ("sentio.ai.anomaly_score", finding.score, "", attrs),
        ("sentio.ai.expected", finding.expected, "", attrs),
        ("sentio.ai.expected_lower", finding.lower, "", attrs),
        ("sentio.ai.expected_upper", finding.upper, "", attrs),
        ("sentio.ai.time_to_threshold", finding.time_to_threshold_s, "s", attrs),
    ]
    if finding.drivers:
        top = sorted(finding.drivers.items(), key=lambda kv: -kv[1])[:DRIVERS_KEPT]
        for name, share in top:
            values.append(("sentio.ai.anomaly_driver", share, "", {**attrs, "driver": name}))
    if finding.risk is not None:
        risky = {**attrs, "risk": finding.risk}
        values.append(("sentio.ai.fault_risk", RISK_LEVELS[finding.risk], "", risky))
        values.append(("sentio.ai.fault_risk_confidence", finding.risk_confidence, "", risky))
    return [
        Point(name, float(value), ts, labels, unit)
        for name, value, unit, labels in values
        if value is not None and math.isfinite(value)
    ]


class FindingWriter:
    """Encode findings and push them through a MetricsPusher."""

    def __init__(self, pusher: MetricsPusher, resource: Mapping[str, str]) -> None:
        self.pusher = pusher
        self.resource = dict(resource)

    async def write(self, findings: Iterable[Finding], batch: int = 5000) -> int:
        """Push every finding's samples in batches; return how many samples were sent."""
        pending: list[Point] = []
        sent = 0
        for finding in findings:
            pending += points(finding)
            if len(pending) >= batch:
                await self.pusher.push(encode_gauges(self.resource, pending, "sentio.ai_engine"))
                sent += len(pending)
                pending = []
        if pending:
            await self.pusher.push(encode_gauges(self.resource, pending, "sentio.ai_engine"))
            sent += len(pending)
        return sent
