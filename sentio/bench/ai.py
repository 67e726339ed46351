"""Time the AI engine's fit and infer cycles on many series against reading them alone.

Each run fits a fresh query on the day before ``end - 2 windows``, then runs two infer cycles of
one window (10 minutes) each: the first creates the query's output series in VictoriaMetrics
(cold), the second writes to them (warm, as every later cycle does). The read they are compared
with reads the same number of points, page by page as the engine does, keeping nothing.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import resource
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

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
T = TypeVar("T")
STEP = 60
DAY = 86_400
INFER_WINDOW = 600
SCORED_TIMEOUT_S = 120.0
IMPORT_BATCH = 250


@dataclass(frozen=True)
class AIRun:
    """One fit and two infer cycles of a fresh query, and the reads they are compared with."""

    read_s: float
    infer_s: float
    infer_to_read: float
    infer_warm_s: float
    infer_warm_to_read: float
    fit_read_s: float
    fit_s: float


@dataclass(frozen=True)
class AIBenchReport:
    """Engine and read times for one synthetic load: medians over the runs, and each run."""

    series: int
    read_s: float
    infer_s: float
    infer_to_read: float
    fit_read_s: float
    fit_s: float
    series_per_s_fit: float
    series_per_s_infer: float
    peak_rss_mb: float
    infer_warm_s: float
    infer_warm_to_read: float
    load_peak_rss_mb: float
    runs: list[dict[str, float]] = field(default_factory=list)
    scored_series: int | None = None  # series with a score from the last run, by PromQL


def synthetic(first: int, count: int, end: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Return a day of 1-minute timestamps (ms) and series ``first`` to ``first + count - 1``."""
    ts = np.arange(end - DAY + STEP, end + 1, STEP, dtype=np.int64)
    rng = np.random.default_rng([seed, first])
    base = rng.uniform(10, 100, (count, 1))
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    daily = 0.1 * base * np.sin(2 * np.pi * ts[None, :] / DAY + phase)
    values = (
        base
        + daily
        + rng.normal(0, 0.01, (count, 1)) * base * rng.standard_normal((count, len(ts)))
    )
    spikes = rng.random(count) < 0.01
    values[spikes, -3] += 0.5 * base[spikes, 0]
    return ts * 1000, np.round(values, 4)


async def load(
    session: aiohttp.ClientSession, base: str, run: str, count: int, end: int, progress: Progress
) -> None:
    """Import the synthetic series into VictoriaMetrics, a batch at a time, as JSON lines."""
    for lo in range(0, count, IMPORT_BATCH):
        ts_ms, values = synthetic(lo, min(IMPORT_BATCH, count - lo), end)
        stamps = ts_ms.tolist()
        lines = []
        for i, row in enumerate(values.tolist(), lo):
            metric = {"__name__": "sentio_bench_ai", "run": run, "series": f"s{i:05d}"}
            metric["device"] = f"d{i // 10:04d}"
            lines.append(json.dumps({"metric": metric, "values": row, "timestamps": stamps}))
        async with session.post(f"{base}/api/v1/import", data="\n".join(lines)) as resp:
            if resp.status >= 300:
                raise StackError(f"import into VictoriaMetrics: HTTP {resp.status}")
        if (lo + IMPORT_BATCH) % 5000 == 0:
            progress(f"  {lo + IMPORT_BATCH} series imported")


def rss_mb() -> float:
    """Return this process's peak resident memory so far, in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def timed(call: Callable[[], Awaitable[T]], profile: Path | None = None) -> tuple[T, float]:
    """Await ``call()``; return its result and wall time (under cProfile when ``profile``)."""
    profiler = cProfile.Profile() if profile else None
    started = time.monotonic()
    if profiler:
        profiler.enable()
    result = await call()
    if profiler and profile:
        profiler.disable()
        profiler.dump_stats(profile)
    return result, time.monotonic() - started


async def read_pages(reader: PromReader, query: str, start: int, end: int) -> int:
    """Read every page of ``query`` over [start, end] as the engine does; return the series."""
    return sum([len(page) async for page in reader.pages(query, start, end, STEP)])


async def one_run(
    reader: PromReader, writer: FindingWriter, source: str, name: str, end: int,
    progress: Progress, profile: Path | None = None,
) -> AIRun:  # fmt: skip
    """Fit a fresh query, then time two infer cycles and the reads of the same windows."""
    query = AIQueryConfig(name=name, promql=source, fit_window_s=DAY, step_s=STEP)
    quiet = logging.getLogger("sentio.bench.ai.findings")
    quiet.propagate = False
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    fitted = end - 2 * INFER_WINDOW
    with tempfile.TemporaryDirectory() as state:
        engine = QueryEngine(query, reader, writer, Path(state), quiet)
        progress("reading the fit window")
        _, fit_read = await timed(lambda: read_pages(reader, source, fitted - DAY, fitted))
        progress("fit cycle")
        prof = (lambda n: profile / f"{n}.prof") if profile else (lambda n: None)
        _, fit = await timed(lambda: engine.fit(fitted), prof("fit"))
        progress("reading an infer window")
        _, read = await timed(lambda: read_pages(reader, source, end - INFER_WINDOW + STEP, end))
        progress("infer cycle (creates the output series)")
        _, infer = await timed(lambda: engine.infer(end - INFER_WINDOW), prof("infer"))
        progress("infer cycle (writes to them)")
        _, warm = await timed(lambda: engine.infer(end), prof("infer_warm"))
    return AIRun(
        read_s=round(read, 3), infer_s=round(infer, 3), infer_to_read=round(infer / read, 2),
        infer_warm_s=round(warm, 3), infer_warm_to_read=round(warm / read, 2),
        fit_read_s=round(fit_read, 3), fit_s=round(fit, 3),
    )  # fmt: skip


async def measure(
    config: SentioConfig, count: int, runs: int, progress: Progress, profile: Path | None = None
) -> AIBenchReport:
    """Load ``count`` series, then time reading, fitting and inferring them ``runs`` times."""
    base = config.query_url()
    run = uuid.uuid4().hex[:8]
    end = int(time.time()) // STEP * STEP
    source = f'sentio_bench_ai{{run="{run}"}}'
    timeout = aiohttp.ClientTimeout(total=1800)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        progress(f"loading {count} series x {DAY // STEP} points")
        await load(session, base, run, count, end, progress)
        await session.get(f"{base}/internal/force_flush")

        async def counted(query: str, want: int) -> bool | None:
            got = await promql(session, base, f"count({query})")
            return True if got and int(float(got[0]["value"][1])) == want else None

        await poll(lambda: counted(source, count), 300, f"{count} imported series", interval_s=1)
        loaded_rss = rss_mb()
        progress(f"loaded; peak RSS so far {loaded_rss:.0f} MiB (the engine's phases follow)")
        reader = PromReader(session, base, Limits())
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        writer = FindingWriter(pusher, {"service.name": "sentio-bench-ai"})
        done: list[AIRun] = []
        for index in range(runs):
            progress(f"run {index + 1} of {runs}")
            name = f"bench-{run}-{index}"
            done.append(await one_run(reader, writer, source, name, end, progress, profile))
            progress(f"  {asdict(done[-1])}")
            profile = None
        scored = await scored_series(session, base, name, count, progress)
    return report(count, done, loaded_rss, rss_mb(), scored)


async def scored_series(
    session: aiohttp.ClientSession, base: str, query: str, count: int, progress: Progress
) -> int:
    """Return how many series have a score from ``query``, waiting up to 120 s for all of them."""
    # The scores end at the last cycle, which may be further back than an instant query looks.
    selector = f'last_over_time(sentio_ai_anomaly_score{{query="{query}"}}[1h])'
    found = 0

    async def every() -> bool | None:
        nonlocal found
        got = await promql(session, base, f"count({selector})")
        found = int(float(got[0]["value"][1])) if got else 0
        return True if found == count else None

    try:
        await poll(every, SCORED_TIMEOUT_S, "the last run's scores", interval_s=1)
    except StackError:
        progress(f"only {found} of {count} series have a score after {SCORED_TIMEOUT_S:.0f} s")
    return found


def report(
    count: int, runs: list[AIRun], loaded_rss: float, peak_rss: float, scored: int | None = None
) -> AIBenchReport:
    """Summarise runs by their medians (each ratio the median of the runs' ratios)."""

    def median(name: str) -> float:
        return float(statistics.median(getattr(r, name) for r in runs))

    return AIBenchReport(
        series=count, read_s=median("read_s"), infer_s=median("infer_s"),
        infer_to_read=median("infer_to_read"), fit_read_s=median("fit_read_s"),
        fit_s=median("fit_s"), series_per_s_fit=round(count / median("fit_s"), 1),
        series_per_s_infer=round(count / median("infer_s"), 1), peak_rss_mb=round(peak_rss, 1),
        infer_warm_s=median("infer_warm_s"), infer_warm_to_read=median("infer_warm_to_read"),
        load_peak_rss_mb=round(loaded_rss, 1), runs=[asdict(r) for r in runs],
        scored_series=scored,
    )  # fmt: skip


def run(
    config: SentioConfig, count: int, progress: Progress, runs: int = 1,
    profile: Path | None = None,
) -> AIBenchReport:  # fmt: skip
    """Run the benchmark, starting and stopping the stack if it is not running."""
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    with stack_running(config, progress):
        return asyncio.run(measure(config, count, runs, progress, profile))
