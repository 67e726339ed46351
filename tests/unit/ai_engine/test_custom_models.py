"""Models registered under the entry-point group `sentio.models`."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import numpy as np
import pytest
import sentio.ai_engine.engine as engine_module
from sentio.ai_engine.engine import QueryEngine
from sentio.ai_engine.errors import AiEngineError

from sentio.config import AIQueryConfig
from tests.unit.ai_engine.test_engine_envelope import T0, FakeReader, FakeWriter


class Threshold50:
    """A toy model: the value over 50 is the score."""

    def update(self, timestamp: float, value: float) -> float:
        return value / 50.0


def test_a_registered_model_scores_the_series(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ep = EntryPoint("over50", f"{__name__}:Threshold50", "sentio.models")
    monkeypatch.setattr(engine_module, "entry_points", lambda group: [ep])
    values = np.full(100, 10.0)
    values[95] = 75.0
    writer = FakeWriter()
    query = AIQueryConfig(name="c", promql="x", model="over50", fit_window_s=6000)
    engine = QueryEngine(query, FakeReader(values), writer, tmp_path)  # type: ignore[arg-type]

    import asyncio

    asyncio.run(engine.fit(T0 + 90 * 60))
    asyncio.run(engine.infer(T0 + 99 * 60))
    scores = {f.timestamp_s: f.score for f in writer.findings}
    assert scores[T0 + 95 * 60] == 1.5 and scores[T0 + 96 * 60] == 0.2


def test_an_unknown_model_names_the_group(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(engine_module, "entry_points", lambda group: [])
    query = AIQueryConfig(name="c", promql="x", model="nope")
    with pytest.raises(AiEngineError, match=r"'nope'.*'sentio\.models'"):
        QueryEngine(query, None, None, tmp_path)  # type: ignore[arg-type]
