"""The AI engine on the real VictoriaMetrics: a spike scored over 1, a drift's time to threshold."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import aiohttp
import numpy as np
from sentio.ai_engine.engine import QueryEngine
from sentio.ai_engine.reader import PromReader
from sentio.ai_engine.writer import FindingWriter

from sentio.config import AIQueryConfig, SentioConfig, ThresholdConfig
from sentio.otlp import MetricsPusher, Point, encode_gauges
from sentio.stack.probe import poll
from sentio.stack.query import promql

STEP = 60
MINUTES = 180
SPIKE = 150


async def _write(pusher: MetricsPusher, run: str, t0: int) -> None:
    rng = np.random.default_rng(11)
    temp = 50 + rng.normal(0, 0.5, MINUTES)
    temp[SPIKE] += 10
    wear = 20 + 0.1 * np.arange(MINUTES) + rng.normal(0, 0.05, MINUTES)
    points = [
        Point(name, float(v), (t0 + i * STEP) * 1_000_000_000, {"device": "d1", "run": run})
        for name, series in (("ai.it.temp", temp), ("ai.it.wear", wear))
        for i, v in enumerate(series)
    ]
    await pusher.push(encode_gauges({"service.name": "ai-it"}, points))


async def _range(session: aiohttp.ClientSession, base: str, query: str, start: int, end: int):
    params = {"query": query, "start": str(start), "end": str(end), "step": "60s"}
    async with session.get(f"{base}/api/v1/query_range", params=params) as resp:
        return (await resp.json())["data"]["result"]


async def test_spike_and_drift_end_to_end(stack_config_live: SentioConfig, tmp_path: Path) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    t0 = (int(time.time()) // STEP - MINUTES - 1) * STEP
    t_fit, t_end = t0 + 120 * STEP, t0 + (MINUTES - 1) * STEP
    base = config.query_url()
    temp_q = AIQueryConfig(
        name="it-temp", promql=f'ai_it_temp{{run="{run}"}}', fit_window_s=7200, model="auto"
    )
    wear_q = AIQueryConfig(
        name="it-wear", promql=f'ai_it_wear{{run="{run}"}}', fit_window_s=7200,
        threshold=ThresholdConfig(value=50.0), forecast_window_s=3600,
    )  # fmt: skip
    events: list[logging.LogRecord] = []
    logger = logging.getLogger(f"test.ai.{run}")
    logger.addHandler(
        type("Collect", (logging.Handler,), {"emit": lambda _s, r: events.append(r)})()
    )
    async with aiohttp.ClientSession() as session:
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        await _write(pusher, run, t0)
        reader = PromReader(session, base)

        async def written() -> bool | None:
            got = await reader.read(wear_q.promql, t0, t_end, STEP)
            return True if got and np.isfinite(got[0].values[-1]) else None

        await poll(written, 30, "synthetic series")
        writer = FindingWriter(pusher, {"service.name": "sentio-ai-test"})
        engines = [QueryEngine(q, reader, writer, tmp_path, logger) for q in (temp_q, wear_q)]
        for engine in engines:
            await engine.fit(t_fit)
        stats = [await engine.infer(t_end) for engine in engines]
        assert stats[0].series == 1 and stats[0].anomalies >= 1

        score_q = f'sentio_ai_anomaly_score{{query="it-temp",run="{run}"}}'

        async def scores() -> list[dict[str, object]] | None:
            result = await _range(session, base, score_q, t_fit + STEP, t_end)
            return result if result and len(result[0]["values"]) >= 50 else None

        series = (await poll(scores, 30, "anomaly scores"))[0]
        by_ts = {int(ts): float(v) for ts, v in series["values"]}
        spike_ts = t0 + SPIKE * STEP
        assert by_ts[spike_ts] > 1
        others = [v for ts, v in by_ts.items() if ts != spike_ts]
        assert max(others) < 1, sorted(others)[-3:]

        ttt_q = f'sentio_ai_time_to_threshold_seconds{{query="it-wear",run="{run}"}}'
        ttt = await poll(lambda: promql(session, base, ttt_q), 30, "time to threshold")
        # 20 + 0.1/min reaches 37.9 at the last point; 50 is (50 - 37.9) / 0.1 = 121 min away.
        assert abs(float(ttt[0]["value"][1]) - 121 * 60) < 0.05 * 121 * 60
        risk = await promql(session, base, f'sentio_ai_fault_risk{{run="{run}",risk="high"}}')
        assert len(risk) == 1

    assert any("anomaly in it-temp" in r.getMessage() for r in events)
    assert any("predicted fault" in r.getMessage() for r in events)
    restored = QueryEngine(temp_q, reader, writer, tmp_path, logger)
    assert restored.load() and restored.state.last_ts == t_end
