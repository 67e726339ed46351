"""Two AI workers on the real VictoriaMetrics: every series scored by exactly one, state kept."""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

import aiohttp
import numpy as np
import pytest
from sentio.ai_engine.engine import QueryEngine
from sentio.ai_engine.reader import PromReader
from sentio.ai_engine.writer import FindingWriter

from sentio.config import AIQueryConfig, SentioConfig
from sentio.otlp import MetricsPusher, Point, encode_gauges
from sentio.stack.probe import poll
from sentio.stack.query import promql

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
STEP = 60
MINUTES = 150
DEVICES = [f"d{i}" for i in range(6)]
CHANNELS = ["ai_shard_temp", "ai_shard_flow", "ai_shard_power"]


async def _write(pusher: MetricsPusher, run: str, t0: int) -> None:
    rng = np.random.default_rng(5)
    base = 10 + np.sin(np.arange(MINUTES) / 9)
    points = [
        Point(name, float(v), (t0 + i * STEP) * 1_000_000_000, {"device": device, "run": run})
        for d, device in enumerate(DEVICES)
        for c, name in enumerate(CHANNELS)
        for i, v in enumerate((c + 1) * base + d + rng.normal(0, 0.05, MINUTES))
    ]
    await pusher.push(encode_gauges({"service.name": "ai-shards"}, points))


async def test_two_workers_score_every_series_once_and_keep_their_state(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    t0 = (int(time.time()) // STEP - MINUTES - 1) * STEP
    t_fit, t_end = t0 + 120 * STEP, t0 + (MINUTES - 1) * STEP
    query = AIQueryConfig(
        name=f"shards-{run}", promql=f'{{__name__=~"ai_shard_.*", run="{run}"}}',
        group_by=["device"], fit_window_s=7200, model="auto",
    )  # fmt: skip
    events = logging.getLogger(f"test.ai.shards.{run}")
    async with aiohttp.ClientSession() as session:
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        await _write(pusher, run, t0)
        reader = PromReader(session, config.query_url())

        async def written() -> bool | None:
            got = await reader.read(query.promql, t0, t_end, STEP)
            whole = len(got) == len(DEVICES) * len(CHANNELS)
            return True if whole and all(np.isfinite(s.values[-1]) for s in got) else None

        await poll(written, 30, "the synthetic series")
        writer = FindingWriter(pusher, {"service.name": "sentio-ai-shards"})
        readers = [PromReader(session, config.query_url()) for _ in (0, 1)]
        workers = [QueryEngine(query, readers[i], writer, tmp_path, events, (i, 2)) for i in (0, 1)]
        for worker in workers:
            await worker.fit(t_fit)
        fitted = [set(w.state.keys) for w in workers]
        assert fitted[0].isdisjoint(fitted[1])
        # Each worker read its own series and no other: the listing, then matchers per device.
        assert [r.counts.series for r in readers] == [len(keys) for keys in fitted]
        assert all(0 < len(keys) < len(DEVICES) * len(CHANNELS) for keys in fitted)
        alone = PromReader(session, config.query_url())
        await QueryEngine(query, alone, writer, tmp_path / "alone", events).fit(t_fit)
        assert alone.counts.series == len(DEVICES) * len(CHANNELS)
        for r, keys in zip(readers, fitted, strict=True):
            # response bytes grow with the series read (the listing is the same for both)
            share = len(keys) / (len(DEVICES) * len(CHANNELS))
            assert r.counts.bytes < alone.counts.bytes * (share + 0.2), (r.counts, alone.counts)
        assert len(fitted[0] | fitted[1]) == len(DEVICES) * len(CHANNELS)
        # A device's channels stay together: its multivariate model sees all of them.
        owners = {dict(k)["device"]: i for i, keys in enumerate(fitted) for k in keys}
        for i, keys in enumerate(fitted):
            assert {dict(k)["device"] for k in keys} == {d for d, o in owners.items() if o == i}
        models = [set(w.state.devices) for w in workers]
        assert models[0].isdisjoint(models[1])
        assert {dict(k)["device"] for k in models[0] | models[1]} == set(DEVICES)
        before = [r.counts.series for r in readers]
        stats = [await w.infer(t_end) for w in workers]
        assert sum(s.series for s in stats) == len(DEVICES) * len(CHANNELS)
        # one read per infer cycle, of this worker's series only
        assert [r.counts.series - b for r, b in zip(readers, before, strict=True)] == [
            len(keys) for keys in fitted
        ]

        score = f'sentio_ai_anomaly_score{{query="{query.name}",run="{run}"}}'

        async def scored() -> list[dict[str, object]] | None:
            got = await promql(session, config.query_url(), f"count_over_time({score}[1h])")
            return got if len(got) == len(DEVICES) * len(CHANNELS) else None

        per_series = await poll(scored, 30, "a score of every series")
        # One score per series per step since the fit: never two workers' scores of one series.
        assert {float(r["value"][1]) for r in per_series} == {float((t_end - t_fit) // STEP)}

        restarted = QueryEngine(query, reader, writer, tmp_path, events, (1, 2))
        assert restarted.load()
        assert set(restarted.state.keys) == fitted[1]
        assert set(restarted.state.devices) == models[1]
        assert restarted.state.last_ts == t_end
        again = await restarted.infer(t_end + STEP)
        assert again.phase == "infer" and again.series <= len(fitted[1])
