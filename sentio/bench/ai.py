"""Time the AI engine's fit and infer cycles on many series against reading them alone."""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

from sentio.ai_engine.engine import QueryEngine
from sentio.ai_engine.reader import Limits, PromReader
from sentio.ai_engine.writer import FindingWriter
from sentio.config import AIQueryConfig, SentioConfig
from sentio.errors import StackError
from sentio.otlp import MetricsPusher
from sentio.stack.probe import poll
from sentio.stack.query import promql
from sentio.stack.running import stack_running

Progress = Callable[[str], None]
STEP = 60
DAY = 86_400
INFER_WINDOW = 600
IMPORT_BATCH = 250


@dataclass(frozen=True)
class AIBenchReport:
    """Engine and read times for one synthetic load."""

    series: int
    read_s: float
    infer_s: float
    infer_to_read: float
    fit_read_s: float
    fit_s: float
    series_per_s_fit: float
    series_per_s_infer: float
    peak_rss_mb: float


def synthetic(count: int, end: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return a day of 1-minute timestamps (ms) and ``count`` plausible sensor series."""
    ts = np.arange(end - DAY + STEP, end + 1, STEP, dtype=np.int64)
    rng = np.random.default_rng(seed)
    base = rng.uniform(10, 100, (count, 1))
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    daily = 0.1 * base * np.sin(2 * np.pi * ts[None, :] / DAY + phase)
    values = (
        base
        + daily
        + rng.normal(0, 0.01, (count, 1)) * base * rng.standard_normal((count, len(ts)))
    )
    spikes = rng.choice(count, size=max(1, count // 100), replace=False)
    values[spikes, -3] += 0.5 * base[spikes, 0]
    return ts * 1000, np.round(values, 4)


async def load(session: aiohttp.ClientSession, base: str, run: str, count: int, end: int) -> None:
    """Import the synthetic series into VictoriaMetrics through its JSON-lines import API."""
    ts_ms, values = synthetic(count, end)
    stamps = ts_ms.tolist()
    for lo in range(0, count, IMPORT_BATCH):
        lines = []
        for i in range(lo, min(count, lo + IMPORT_BATCH)):
            metric = {"__name__": "sentio_bench_ai", "run": run, "series": f"s{i:05d}"}
            metric["device"] = f"d{i // 10:04d}"
            lines.append(
                json.dumps({"metric": metric, "values": values[i].tolist(), "timestamps": stamps})
            )
        async with session.post(f"{base}/api/v1/import", data="\n".join(lines)) as resp:
            if resp.status >= 300:
                raise StackError(f"import into VictoriaMetrics: HTTP {resp.status}")


async def measure(config: SentioConfig, count: int, progress: Progress) -> AIBenchReport:
    """Load ``count`` series, then time reading, fitting and inferring them."""
    base = config.query_url()
    run = uuid.uuid4().hex[:8]
    end = int(time.time()) // STEP * STEP
    query = AIQueryConfig(
        name="bench", promql=f'sentio_bench_ai{{run="{run}"}}', fit_window_s=DAY, step_s=STEP
    )
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        progress(f"loading {count} series x {DAY // STEP} points")
        await load(session, base, run, count, end)
        await session.get(f"{base}/internal/force_flush")

        async def loaded() -> bool | None:
            got = await promql(session, base, f"count({query.promql})")
            return True if got and int(float(got[0]["value"][1])) == count else None

        await poll(loaded, 120, f"{count} imported series", interval_s=0.5)
        reader = PromReader(session, base, Limits())
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        writer = FindingWriter(pusher, {"service.name": "sentio-bench-ai"})
        with tempfile.TemporaryDirectory() as state:
            quiet = logging.getLogger("sentio.bench.ai.findings")
            quiet.propagate = False
            if not quiet.handlers:
                quiet.addHandler(logging.NullHandler())
            engine = QueryEngine(query, reader, writer, Path(state), quiet)
            progress("reading the fit window")
            t = time.monotonic()
            await reader.read(query.promql, end - DAY, end, STEP)
            fit_read = time.monotonic() - t
            progress("fit cycle")
            t = time.monotonic()
            await engine.fit(end - INFER_WINDOW)
            fit = time.monotonic() - t
            progress("reading the infer window")
            t = time.monotonic()
            await reader.read(query.promql, end - INFER_WINDOW + STEP, end, STEP)
            read = time.monotonic() - t
            progress("infer cycle")
            t = time.monotonic()
            await engine.infer(end)
            infer = time.monotonic() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return AIBenchReport(
        series=count,
        read_s=round(read, 3),
        infer_s=round(infer, 3),
        infer_to_read=round(infer / read, 2),
        fit_read_s=round(fit_read, 3),
        fit_s=round(fit, 3),
        series_per_s_fit=round(count / fit, 1),
        series_per_s_infer=round(count / infer, 1),
        peak_rss_mb=round(peak, 1),
    )


def run(config: SentioConfig, count: int, progress: Progress) -> AIBenchReport:
    """Run the benchmark, starting and stopping the stack if it is not running."""
    with stack_running(config, progress):
        return asyncio.run(measure(config, count, progress))
