"""The multivariate device model on the real VictoriaMetrics: a simulated pump's stuck valve."""

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
from sentio.simulators.pump import Pump, Stuck, Valve

from sentio.config import AIQueryConfig, SentioConfig
from sentio.otlp import MetricsPusher, Point, encode_gauges
from sentio.stack.probe import poll

STEP = 60
HEALTHY = 1439  # rows; the valve moves from 75% to 60% on the next one, its reading stuck
STUCK = 120
FIT_AT = 1380
METRICS = ("motor_current", "pressure", "flow", "valve_position")


def _pump_rows() -> np.ndarray:
    pump = Pump(seed=4, pressure_step=0.3, valve=Valve((60.0, 45.0, 75.0), 4 * 3600.0))
    rows = []
    for i in range(HEALTHY + STUCK):
        if i == HEALTHY:
            pump.inject(Stuck("valve_position"))
        values = pump.advance(STEP)
        rows.append([values[m] for m in METRICS])
    return np.array(rows)


async def test_a_stuck_valve_reading_is_scored_above_one_while_it_lasts(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    rows = _pump_rows()
    t0 = (int(time.time()) // STEP - len(rows) - 1) * STEP
    t_end = t0 + (len(rows) - 1) * STEP
    query = AIQueryConfig(
        name="it-pump", promql=f'{{__name__=~"ai_it_pump_.*",run="{run}"}}',
        group_by=["device", "run"], fit_window_s=FIT_AT * STEP, step_s=STEP,
    )  # fmt: skip
    events: list[logging.LogRecord] = []
    logger = logging.getLogger(f"test.ai.device.{run}")
    logger.addHandler(
        type("Collect", (logging.Handler,), {"emit": lambda _s, r: events.append(r)})()
    )
    async with aiohttp.ClientSession() as session:
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        points = [
            Point(f"ai.it.pump.{m}", float(rows[i, j]), (t0 + i * STEP) * 1_000_000_000,
                  {"device": "pump-1", "run": run})
            for j, m in enumerate(METRICS)
            for i in range(len(rows))
        ]  # fmt: skip
        for lo in range(0, len(points), 2000):
            await pusher.push(encode_gauges({"service.name": "ai-it"}, points[lo : lo + 2000]))
        reader = PromReader(session, config.query_url())

        async def written() -> bool | None:
            got = await reader.read(query.promql, t0, t_end, STEP)
            complete = len(got) == len(METRICS) and all(np.isfinite(s.values[-1]) for s in got)
            return True if complete else None

        await poll(written, 90, "the pump's series")
        writer = FindingWriter(pusher, {"service.name": "sentio-ai-test"})
        engine = QueryEngine(query, reader, writer, tmp_path, logger)
        await engine.fit(t0 + FIT_AT * STEP)
        assert len(engine.state.devices) == 1
        await engine.infer(t_end)

        score_q = f'sentio_ai_anomaly_score{{query="it-pump",model="multivariate",run="{run}"}}'

        async def scores() -> dict[int, float] | None:
            params = {
                "query": score_q, "start": str(t0 + (FIT_AT + 1) * STEP), "end": str(t_end),
                "step": f"{STEP}s",
            }  # fmt: skip
            async with session.get(f"{config.query_url()}/api/v1/query_range", params=params) as r:
                result = (await r.json())["data"]["result"]
            if not result or len(result[0]["values"]) < len(rows) - FIT_AT - 1:
                return None
            return {(int(ts) - t0) // STEP: float(v) for ts, v in result[0]["values"]}

        by_row = await poll(scores, 90, "device scores")
    assert max(v for row, v in by_row.items() if row < HEALTHY) < 1
    assert min(v for row, v in by_row.items() if row >= HEALTHY + 5) > 1
    device = [r for r in events if getattr(r, "model", None) == "multivariate"]
    assert device and all("anomaly in it-pump" in r.getMessage() for r in device)
    # the fault lasts to the end: one record when it began, not one per anomalous row
    assert [r.episode for r in device] == ["start"], [r.getMessage() for r in device]
    assert all(getattr(r, "device", None) == "pump-1" for r in device)
    assert any("valve_position" in getattr(r, "drivers", "") for r in device)
