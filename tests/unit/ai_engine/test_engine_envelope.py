"""The engine's `envelope` model (the NAB-tuned detector), with a fake reader and writer."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from pathlib import Path

import numpy as np
from sentio.ai_engine.engine import QueryEngine
from sentio.ai_engine.reader import Series
from sentio.ai_engine.writer import Finding, ScoreBlock

from sentio.config import AIQueryConfig

STEP = 60
T0 = 1_700_000_000 - 1_700_000_000 % STEP
ROWS = 3000
SPIKE = 2950


class FakeReader:
    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    async def read(self, query: str, start: int, end: int, step: int) -> list[Series]:
        lo = max(0, (start - T0 + step - 1) // step)
        hi = min(len(self.values) - 1, (end - T0) // step)
        if hi < lo:
            return []
        labels = {"__name__": "temp", "device": "d1"}
        return [Series(labels, T0 + lo * step, step, self.values[lo : hi + 1])]

    async def pages(
        self,
        query: str,
        start: int,
        end: int,
        step: int,
        group_by: Sequence[str] = (),
        keep: object = None,
    ) -> AsyncIterator[list[Series]]:
        yield await self.read(query, start, end, step)


class FakeWriter:
    """Keep every output as a Finding (one per point), as the real writer would write them."""

    def __init__(self) -> None:
        self.findings: list[Finding] = []

    def stream(self) -> FakeWriter:
        return self

    async def __aenter__(self) -> FakeWriter:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    @property
    def sent(self) -> int:
        return len(self.findings)

    async def add(self, block: ScoreBlock) -> None:
        self.findings += block.findings()

    async def add_findings(self, findings: Iterable[Finding]) -> None:
        self.findings += findings


async def test_envelope_model_scores_a_spike_above_one(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    values = 20 + rng.normal(0, 0.5, ROWS)
    values[SPIKE] += 8
    writer = FakeWriter()
    query = AIQueryConfig(name="t", promql="temp", model="envelope", fit_window_s=ROWS * STEP)
    engine = QueryEngine(query, FakeReader(values), writer, tmp_path)  # type: ignore[arg-type]
    fit_at = T0 + 2900 * STEP
    await engine.fit(fit_at)
    assert engine.state.choice[engine.state.keys[0]] == "envelope"
    stats = await engine.infer(T0 + (ROWS - 1) * STEP)
    scores = {f.timestamp_s: f.score for f in writer.findings}
    assert len(scores) == ROWS - 1 - 2900
    assert all(f.model == "envelope" for f in writer.findings)
    spike = T0 + SPIKE * STEP
    assert scores[spike] > 1
    assert max(v for t, v in scores.items() if t < spike) < 1
    # No hold-off in the engine's score (debouncing is the alert rule's `for:`): the spike may
    # echo once as it leaves the detector's windows, never for long.
    assert sum(v > 1 for t, v in scores.items() if t > spike) <= 2
    assert stats.anomalies == sum(v > 1 for v in scores.values())
    restored = QueryEngine(query, FakeReader(values), writer, tmp_path)  # type: ignore[arg-type]
    assert restored.load() and restored.state.keys == engine.state.keys
