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

import asyncio
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType

import numpy as np
import numpy.typing as npt
from sentio.ai_engine.frames import MetricKey, PrefixTable, request
from sentio.ai_engine.reader import LabelSet

from sentio.otlp import MetricsPusher, Point, data_point_prefix, encode_gauges

SCOPE = "sentio.ai_engine"
REQUEST_BYTES = 1 << 20
CONCURRENT_REQUESTS = 2
PREFIX_CACHE = 200_000
RISK_LEVELS = {"low": 0.0, "medium": 1.0, "high": 2.0}
FloatArray = npt.NDArray[np.float64]


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


BLOCK_OUTPUTS = (
    ("sentio.ai.anomaly_score", "score"),
    ("sentio.ai.expected", "expected"),
    ("sentio.ai.expected_lower", "lower"),
    ("sentio.ai.expected_upper", "upper"),
)


@dataclass(frozen=True)
class ScoreBlock:
    """Many series' scores on one time grid: row ``i`` of each matrix is series ``keys[i]``'s.

    A point is written where its score is finite, and each of its outputs where that is finite
    too; ``drivers`` holds an anomalous device's driver shares by (row, column).
    """

    keys: Sequence[LabelSet]
    models: Sequence[str]
    query: str
    timestamps_s: npt.NDArray[np.int64]
    score: FloatArray
    expected: FloatArray | None = None
    lower: FloatArray | None = None
    upper: FloatArray | None = None
    drivers: Mapping[tuple[int, int], Mapping[str, float]] = field(default_factory=dict)

    def matrix(self, output: str) -> FloatArray | None:
        """Return the matrix of one output (score, expected, lower or upper)."""
        value: FloatArray | None = getattr(self, output)
        return value

    def findings(self) -> Iterator[Finding]:
        """Yield the block as one Finding per written point (what `points` would write)."""
        rows, cols = np.nonzero(np.isfinite(self.score))
        bands = (self.expected, self.lower, self.upper)
        for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
            band = [None if m is None else float(m[i, j]) for m in bands]
            yield Finding(
                dict(self.keys[i]), int(self.timestamps_s[j]), self.models[i], self.query,
                score=float(self.score[i, j]), expected=band[0], lower=band[1], upper=band[2],
                drivers=self.drivers.get((i, j)),
            )  # fmt: skip


class OutputStream:
    """Encode blocks and findings into requests of about ``request_bytes``, sent concurrently."""

    def __init__(self, writer: FindingWriter, request_bytes: int, concurrency: int) -> None:
        self.writer = writer
        self.request_bytes = request_bytes
        self.concurrency = concurrency
        self.sent = 0
        self._framed: dict[MetricKey, list[bytes]] = {}
        self._framed_bytes = 0
        self._points: list[Point] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> OutputStream:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc is None:
                await self.close()
        finally:
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks.clear()

    async def add(self, block: ScoreBlock) -> None:
        """Queue a block's samples; send whenever a request's worth is queued."""
        if not len(block.keys):
            return
        prefixes = [
            self.writer.prefix(k, m, block.query)
            for k, m in zip(block.keys, block.models, strict=True)
        ]
        time_ns = block.timestamps_s.astype(np.uint64) * np.uint64(1_000_000_000)
        row_bytes = (sum(map(len, prefixes)) / len(prefixes) + 18) * len(time_ns) * 4
        rows_per_request = max(1, int(self.request_bytes // max(row_bytes, 1.0)))
        for lo in range(0, len(prefixes), rows_per_request):
            part = slice(lo, lo + rows_per_request)
            self._frame(block, PrefixTable(prefixes[part]), time_ns, part)
            if self._framed_bytes >= self.request_bytes:
                await self._send_framed()
        for (i, j), drivers in block.drivers.items():
            labels = dict(block.keys[i])
            driver = Finding(
                labels, int(block.timestamps_s[j]), block.models[i], block.query, drivers=drivers
            )
            await self.add_findings([driver])

    def _frame(
        self, block: ScoreBlock, table: PrefixTable, time_ns: npt.NDArray[np.uint64], part: slice
    ) -> None:
        """Frame the samples of rows ``part`` of a block (``table`` holds their prefixes)."""
        shown = np.isfinite(block.score[part])
        for name, output in BLOCK_OUTPUTS:
            values = block.matrix(output)
            if values is None:
                continue
            values = values[part]
            mask = shown if output == "score" else shown & np.isfinite(values)
            rows, cols = np.nonzero(mask)
            if not len(rows):
                continue
            framed = table.frame(rows, time_ns[cols], values[rows, cols])
            self._framed.setdefault((name, ""), []).append(framed)
            self._framed_bytes += len(framed)
            self.sent += len(rows)

    async def add_findings(self, findings: Iterable[Finding], batch: int = 5000) -> None:
        """Queue findings' samples; send whenever ``batch`` samples are queued."""
        for finding in findings:
            self._points += points(finding)
            if len(self._points) >= batch:
                await self._send_points()

    async def close(self) -> None:
        """Send what is queued and wait for every request to be accepted."""
        await self._send_framed()
        await self._send_points()
        while self._tasks:
            await self._wait_one()

    async def _send_framed(self) -> None:
        if self._framed:
            body = request(self.writer.resource, SCOPE, self._framed)
            self._framed, self._framed_bytes = {}, 0
            await self._send(body)

    async def _send_points(self) -> None:
        if self._points:
            body = encode_gauges(self.writer.resource, self._points, SCOPE)
            self.sent += len(self._points)
            self._points = []
            await self._send(body)

    async def _send(self, body: bytes) -> None:
        while len(self._tasks) >= self.concurrency:
            await self._wait_one()
        self._tasks.add(asyncio.create_task(self.writer.pusher.push(body)))
        await asyncio.sleep(0)  # let the request start while the caller computes the next one

    async def _wait_one(self) -> None:
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        self._tasks -= done
        errors = [error for task in done if (error := task.exception())]
        if errors:
            raise errors[0]


class FindingWriter:
    """Encode findings and score blocks and push them through a MetricsPusher."""

    def __init__(
        self,
        pusher: MetricsPusher,
        resource: Mapping[str, str],
        request_bytes: int = REQUEST_BYTES,
        concurrency: int = CONCURRENT_REQUESTS,
    ) -> None:
        self.pusher = pusher
        self.resource = dict(resource)
        self.request_bytes = request_bytes
        self.concurrency = concurrency
        self._prefixes: dict[tuple[LabelSet, str, str], bytes] = {}

    def stream(self) -> OutputStream:
        """Return a stream to add one cycle's outputs to (``async with``: sent when it ends)."""
        return OutputStream(self, self.request_bytes, self.concurrency)

    def prefix(self, key: LabelSet, model: str, query: str) -> bytes:
        """Return the framed attributes of one series' outputs (kept across cycles)."""
        cached = self._prefixes.get((key, model, query))
        if cached is None:
            if len(self._prefixes) >= PREFIX_CACHE:
                self._prefixes.clear()
            attrs = output_labels(Finding(dict(key), 0, model, query))
            cached = self._prefixes[key, model, query] = data_point_prefix(attrs)
        return cached

    async def write(self, findings: Iterable[Finding], batch: int = 5000) -> int:
        """Push every finding's samples in batches; return how many samples were sent."""
        async with self.stream() as out:
            await out.add_findings(findings, batch)
        return out.sent
