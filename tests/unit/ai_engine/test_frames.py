"""Score blocks framed with numpy decode to exactly the samples of one Finding per point."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from sentio.ai_engine.writer import FindingWriter, ScoreBlock, points

from sentio.otlp import ExportError, encode_gauges

Sample = tuple[str, tuple[tuple[str, str], ...], int, float]


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.bodies: list[bytes] = []
        self.fail = fail
        self.in_flight = self.most_in_flight = 0

    async def push(self, body: bytes) -> None:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0)
        self.in_flight -= 1
        if self.fail:
            raise ExportError("HTTP 400", False)
        self.bodies.append(body)


def samples(bodies: list[bytes]) -> list[Sample]:
    out = []
    for body in bodies:
        request = ExportMetricsServiceRequest.FromString(body)
        for metric in request.resource_metrics[0].scope_metrics[0].metrics:
            for p in metric.gauge.data_points:
                attrs = tuple(sorted((a.key, a.value.string_value) for a in p.attributes))
                out.append((metric.name, attrs, p.time_unix_nano, p.as_double))
    return sorted(out)


def block() -> ScoreBlock:
    rng = np.random.default_rng(3)
    keys = [
        (("__name__", "temp"), ("device", "d1")),
        (("__name__", "temperature"), ("device", "device-22"), ("site", "north")),
        (("device", "d3"),),
    ]
    shape = (3, 5)
    score, expected, lower, upper = (rng.uniform(0, 2, shape) for _ in range(4))
    score[0, 1] = np.nan  # a point not scored writes nothing
    expected[1, 2] = np.nan  # an unknown output is skipped, its score still written
    upper[2, 4] = np.inf
    ts = 1_700_000_000 + 60 * np.arange(5, dtype=np.int64)
    models = ["robust", "seasonal", "robust"]
    return ScoreBlock(keys, models, "q", ts, score, expected, lower, upper)


async def test_a_block_writes_what_its_findings_would() -> None:
    recorder = Recorder()
    writer = FindingWriter(recorder, {"service.name": "t"}, request_bytes=600)  # type: ignore[arg-type]
    scores = block()
    async with writer.stream() as out:
        await out.add(scores)
    assert len(recorder.bodies) > 2  # split into requests of about request_bytes
    want = encode_gauges({"service.name": "t"}, [p for f in scores.findings() for p in points(f)])
    assert samples(recorder.bodies) == samples([want])
    assert out.sent == len(samples([want])) == 14 * 4 - 2
    assert recorder.most_in_flight <= writer.concurrency


async def test_a_rejected_request_fails_the_stream() -> None:
    writer = FindingWriter(Recorder(fail=True), {}, request_bytes=600)  # type: ignore[arg-type]
    with pytest.raises(ExportError, match="400"):
        async with writer.stream() as out:
            await out.add(block())
