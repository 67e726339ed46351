"""Time the AI engine's fit and infer cycles on many series against reading them alone.

The main figure is the engine at its **default** config: a 7-day fit window at one point a
minute (10,081 points a series, over ``max_points_per_series``), the model choice the engine
makes (``auto``: robust or seasonal per series by validation, and the multivariate model for every
device), a ``group_by: [device]`` query of devices of ten channels, and forecasts on (a threshold,
the 6-hour forecast window). Each run fits a fresh query at ``end - 2 windows``, then runs two
infer cycles of one window (``infer_every_s``, a minute) each: the first creates the query's
output series in VictoriaMetrics (cold), the second writes to them (warm, as every later cycle
does). The read they are compared with reads what the cycle reads (the widest of its windows),
page by page as the engine does, keeping nothing.

``rig`` is the earlier, lighter load: a 1-day window, no ``group_by``, no threshold, infer
windows of 10 minutes.

The series are imported by a child process, so this process's peak RSS is the engine's.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import logging
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import aiohttp
import numpy as np

from sentio.ai_engine.engine import QueryEngine, shard_filter
from sentio.ai_engine.reader import Limits, PromReader, ReadCounts
from sentio.ai_engine.writer import FindingWriter
from sentio.config import AIQueryConfig, SentioConfig, ThresholdConfig
from sentio.errors import StackError
from sentio.otlp import MetricsPusher
from sentio.stack.probe import poll
from sentio.stack.query import promql
from sentio.stack.running import stack_running

Progress = Callable[[str], None]
T = TypeVar("T")
STEP = 60
DAY = 86_400
CHANNELS = 10  # series a device
SCORED_TIMEOUT_S = 120.0
IMPORT_BATCH = 100
METRIC = "sentio_bench_ai_c"


@dataclass(frozen=True)
class Profile:
    """One load the engine is timed under: its history, query shape and cycle length."""

    name: str
    history_s: int
    infer_window_s: int
    group_by: bool
    forecasts: bool

    def query(self, name: str, source: str) -> AIQueryConfig:
        """Return the query the engine runs: the config's defaults but for what is named."""
        extra: dict[str, object] = {}
        if self.group_by:
            extra["group_by"] = ["device"]
        if self.forecasts:
            extra["threshold"] = ThresholdConfig(value=1000.0)
        if self.history_s != int(AIQueryConfig.model_fields["fit_window_s"].default):
            extra["fit_window_s"] = self.history_s
        return AIQueryConfig.model_validate({"name": name, "promql": source, **extra})


_DEFAULTS = AIQueryConfig(name="d", promql="x")
PROFILES = {
    "default": Profile(
        "default", int(_DEFAULTS.fit_window_s), int(_DEFAULTS.infer_every_s), True, True
    ),
    "rig": Profile("rig", DAY, 600, False, False),
}


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
    fit_requests: int
    fit_bytes: int
    infer_requests: int  # of the warm cycle: the listing and one query_range per page
    infer_bytes: int
    infer_window: tuple[int, int] = (0, 0)  # what the warm cycle reads


@dataclass(frozen=True)
class AIBenchReport:
    """Engine and read times for one synthetic load: medians over the runs, and each run."""

    profile: str
    series: int
    points_per_series: int
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
    fit_requests: int
    infer_requests: int
    runs: list[dict[str, object]] = field(default_factory=list)
    scored_series: int | None = None  # series with a score from the last run, by PromQL
    # workers -> response bytes each worker's reader took for one infer cycle's window
    bytes_per_worker: dict[str, list[int]] = field(default_factory=dict)


def synthetic(
    first: int, count: int, start: int, end: int, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Return 1-minute timestamps (ms) over [start, end] and series ``first`` on, ``count`` of them.

    A device's channels share its daily load curve; each has its own level and noise, and one
    series in a hundred has a spike three minutes before the end.
    """
    ts = np.arange(start, end + 1, STEP, dtype=np.int64)
    rng = np.random.default_rng([seed, first])
    base = rng.uniform(10, 100, (count, 1))
    devices = np.arange(first, first + count) // CHANNELS
    phase = (devices[:, None] * 0.7) % (2 * np.pi)
    daily = 0.1 * base * np.sin(2 * np.pi * ts[None, :] / DAY + phase)
    noise = rng.normal(0, 0.01, (count, 1)) * base * rng.standard_normal((count, len(ts)))
    values = base + daily + noise
    spikes = rng.random(count) < 0.01
    values[spikes, -3] += 0.5 * base[spikes, 0]
    return ts * 1000, np.round(values, 4)


def _load(base: str, run: str, count: int, start: int, end: int) -> None:
    """Import the synthetic series (run in a child process: its memory is not the engine's)."""
    asyncio.run(_import(base, run, count, start, end))


async def _import(base: str, run: str, count: int, start: int, end: int) -> None:
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for lo in range(0, count, IMPORT_BATCH):
            ts_ms, values = synthetic(lo, min(IMPORT_BATCH, count - lo), start, end)
            stamps = ts_ms.tolist()
            lines = []
            for i, row in enumerate(values.tolist(), lo):
                metric = {"__name__": f"{METRIC}{i % CHANNELS}", "run": run}
                metric["device"] = f"d{i // CHANNELS:05d}"
                lines.append(json.dumps({"metric": metric, "values": row, "timestamps": stamps}))
            async with session.post(f"{base}/api/v1/import", data="\n".join(lines)) as resp:
                if resp.status >= 300:
                    raise StackError(f"import into VictoriaMetrics: HTTP {resp.status}")
            if (lo + IMPORT_BATCH) % 2000 == 0:
                print(f"  {lo + IMPORT_BATCH} series imported", file=sys.stderr, flush=True)


def rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Return the peak resident memory so far of this process (or its children), in MiB."""
    return resource.getrusage(who).ru_maxrss / 1024


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


async def read_pages(
    reader: PromReader, query: AIQueryConfig, start: int, end: int,
    shard: tuple[int, int] = (0, 1),
) -> int:  # fmt: skip
    """Read every page of ``query`` over [start, end] as the engine does; return the series."""
    keep = shard_filter(query.group_by, shard)
    pages = reader.pages(query.promql, start, end, STEP, query.group_by, keep=keep)
    return sum([len(page) async for page in pages])


def infer_window(engine: QueryEngine, since: int, now: int) -> tuple[int, int]:
    """Return the range an infer cycle after ``since`` reads at ``now`` (its widest window)."""
    query = engine.query
    context = max((m.context for m in engine.state.devices.values()), default=0) * STEP
    starts = [since + STEP, since + STEP - context]
    if query.threshold is not None:
        starts.append(now - int(query.forecast_window_s))
    return min(starts), now


def _delta(after: ReadCounts, before: ReadCounts) -> tuple[int, int]:
    return after.requests - before.requests, after.bytes - before.bytes


async def one_run(
    reader: PromReader, writer: FindingWriter, profile: Profile, source: str, name: str,
    end: int, progress: Progress, dump: Path | None = None,
) -> AIRun:  # fmt: skip
    """Fit a fresh query, then time two infer cycles and the reads of the same windows."""
    query = profile.query(name, source)
    quiet = logging.getLogger("sentio.bench.ai.findings")
    quiet.propagate = False
    if not quiet.handlers:
        quiet.addHandler(logging.NullHandler())
    window = profile.infer_window_s
    fitted = end - 2 * window
    prof = (lambda n: dump / f"{profile.name}-{n}.prof") if dump else (lambda n: None)
    with tempfile.TemporaryDirectory() as state:
        engine = QueryEngine(query, reader, writer, Path(state), quiet)
        progress("reading the fit window")
        _, fit_read = await timed(
            lambda: read_pages(reader, query, fitted - profile.history_s, fitted)
        )
        progress("fit cycle")
        before = ReadCounts(**asdict(reader.counts))
        _, fit = await timed(lambda: engine.fit(fitted), prof("fit"))
        fit_requests, fit_bytes = _delta(reader.counts, before)
        progress("infer cycle (creates the output series)")
        _, infer = await timed(lambda: engine.infer(end - window), prof("infer"))
        progress("reading an infer cycle's window")
        lo, hi = infer_window(engine, end - window, end)
        _, read = await timed(lambda: read_pages(reader, query, lo, hi))
        progress("infer cycle (writes to them)")
        before = ReadCounts(**asdict(reader.counts))
        _, warm = await timed(lambda: engine.infer(end), prof("infer_warm"))
        infer_requests, infer_bytes = _delta(reader.counts, before)
    return AIRun(
        read_s=round(read, 3), infer_s=round(infer, 3), infer_to_read=round(infer / read, 2),
        infer_warm_s=round(warm, 3), infer_warm_to_read=round(warm / read, 2),
        fit_read_s=round(fit_read, 3), fit_s=round(fit, 3), fit_requests=fit_requests,
        fit_bytes=fit_bytes, infer_requests=infer_requests, infer_bytes=infer_bytes,
        infer_window=(lo, hi),
    )  # fmt: skip


async def worker_bytes(
    session: aiohttp.ClientSession, base: str, query: AIQueryConfig, lo: int, hi: int,
    workers: list[int],
) -> dict[str, list[int]]:  # fmt: skip
    """Return the response bytes each of n workers reads for one window, for each n."""
    out: dict[str, list[int]] = {}
    for n in workers:
        sizes = []
        for member in range(n):
            reader = PromReader(session, base, Limits())
            await read_pages(reader, query, lo, hi, (member, n))
            sizes.append(reader.counts.bytes)
        out[str(n)] = sizes
    return out


async def measure(
    config: SentioConfig, profile: Profile, count: int, runs: int, progress: Progress,
    dump: Path | None = None, workers: list[int] | None = None,
) -> AIBenchReport:  # fmt: skip
    """Load ``count`` series, then time reading, fitting and inferring them ``runs`` times."""
    base = config.query_url()
    run = uuid.uuid4().hex[:8]
    end = int(time.time()) // STEP * STEP
    start = end - profile.history_s - 3 * profile.infer_window_s
    source = f'{{__name__=~"{METRIC}.*", run="{run}"}}'
    points = (end - start) // STEP + 1
    progress(f"{profile.name}: loading {count} series x {points} points (a child process)")
    child = multiprocessing.get_context("spawn").Process(
        target=_load, args=(base, run, count, start, end)
    )
    child.start()
    await asyncio.to_thread(child.join)
    if child.exitcode != 0:
        raise StackError(f"importing the synthetic series failed (exit {child.exitcode})")
    timeout = aiohttp.ClientTimeout(total=3600)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await session.get(f"{base}/internal/force_flush")

        async def counted(query: str, want: int) -> bool | None:
            got = await promql(session, base, f"count({query})")
            return True if got and int(float(got[0]["value"][1])) == want else None

        # the last points are at ``end``, which a long import (50,000 series: 10 minutes) leaves
        # further back than an instant query looks
        imported = f"last_over_time({source}[1h])"
        await poll(lambda: counted(imported, count), 300, f"{count} imported series", interval_s=1)
        loaded_rss = rss_mb(resource.RUSAGE_CHILDREN)
        progress(f"loaded (the loader's peak RSS {loaded_rss:.0f} MiB); the engine's phases follow")
        reader = PromReader(session, base, Limits())
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        writer = FindingWriter(pusher, {"service.name": "sentio-bench-ai"})
        done: list[AIRun] = []
        for index in range(runs):
            progress(f"run {index + 1} of {runs}")
            name = f"bench-{run}-{index}"
            done.append(await one_run(reader, writer, profile, source, name, end, progress, dump))
            progress(f"  {asdict(done[-1])}")
            dump = None
        peak = rss_mb()
        scored = await scored_series(session, base, name, profile, count, progress)
        per_worker: dict[str, list[int]] = {}
        if workers:
            progress(f"bytes each worker reads for one infer window, with {workers} workers")
            lo, hi = done[-1].infer_window
            per_worker = await worker_bytes(
                session, base, profile.query(name, source), lo, hi, workers
            )
    return report(profile, count, points, done, loaded_rss, peak, scored, per_worker)


async def scored_series(
    session: aiohttp.ClientSession, base: str, query: str, profile: Profile, count: int,
    progress: Progress,
) -> int:  # fmt: skip
    """Return how many series (or devices) have a score from ``query``, waiting up to 120 s."""
    # The scores end at the last cycle, which may be further back than an instant query looks.
    selector = f'last_over_time(sentio_ai_anomaly_score{{query="{query}"}}[1h])'
    want = count + (count // CHANNELS if profile.group_by else 0)  # devices get one too
    found = 0

    async def every() -> bool | None:
        nonlocal found
        got = await promql(session, base, f"count({selector})")
        found = int(float(got[0]["value"][1])) if got else 0
        return True if found >= want else None

    try:
        await poll(every, SCORED_TIMEOUT_S, "the last run's scores", interval_s=1)
    except StackError:
        progress(f"only {found} of {want} scores after {SCORED_TIMEOUT_S:.0f} s")
    return found


def report(
    profile: Profile, count: int, points: int, runs: list[AIRun], loaded_rss: float,
    peak_rss: float, scored: int | None = None, per_worker: dict[str, list[int]] | None = None,
) -> AIBenchReport:  # fmt: skip
    """Summarise runs by their medians (each ratio the median of the runs' ratios)."""

    def median(name: str) -> float:
        return float(statistics.median(getattr(r, name) for r in runs))

    return AIBenchReport(
        profile=profile.name, series=count, points_per_series=points,
        read_s=median("read_s"), infer_s=median("infer_s"),
        infer_to_read=median("infer_to_read"), fit_read_s=median("fit_read_s"),
        fit_s=median("fit_s"), series_per_s_fit=round(count / median("fit_s"), 1),
        series_per_s_infer=round(count / median("infer_s"), 1), peak_rss_mb=round(peak_rss, 1),
        infer_warm_s=median("infer_warm_s"), infer_warm_to_read=median("infer_warm_to_read"),
        load_peak_rss_mb=round(loaded_rss, 1), fit_requests=int(median("fit_requests")),
        infer_requests=int(median("infer_requests")), runs=[asdict(r) for r in runs],
        scored_series=scored, bytes_per_worker=per_worker or {},
    )  # fmt: skip


def run(
    config: SentioConfig, count: int, progress: Progress, runs: int = 1,
    profile: Path | None = None, profile_name: str = "default", workers: list[int] | None = None,
) -> AIBenchReport:  # fmt: skip
    """Run the benchmark, starting and stopping the stack if it is not running."""
    if profile_name not in PROFILES:
        raise StackError(
            f"bench ai: no profile {profile_name!r} (known: {', '.join(sorted(PROFILES))})"
        )
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    with stack_running(config, progress):
        return asyncio.run(
            measure(config, PROFILES[profile_name], count, runs, progress, profile, workers)
        )
