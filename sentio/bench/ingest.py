"""Ingest throughput: the collector against simulated meters, Telegraf as the baseline.

Both read the same dense Modbus meters (``sentio.bench.meter``, in its own process) over the
same number of TCP connections, at the same poll interval, into the same VictoriaMetrics over
OTLP/HTTP, in alternating runs (Sentio, Telegraf, Sentio, ...) so that drift in the machine
touches both alike. Readings are counted where they land: samples whose timestamps fall in the
measured window, by PromQL. CPU is the reader's own (user + system, from /proc), so the
simulator's and the backend's CPU count for neither.

The collector runs at the defaults users get: a span per poll, exported to Jaeger. Any ``OTEL_*``
variables the benchmark inherits (a sampler, say) reach the collector too, and are recorded in
the report. Each reader's own count of what it lost is read from its log: the collector's
summary line, and Telegraf's buffer overflow warnings (its ``quiet`` mode is off for them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from sentio.bench.meter import FLOATS, INT_SCALE, INTS, READINGS
from sentio.bench.procstat import cpu_seconds, peak_rss_mb
from sentio.bench.telegraf import ensure_telegraf, read_log, render_config
from sentio.config import SentioConfig
from sentio.errors import SentioError
from sentio.redact import redact
from sentio.stack.install import default_bin_dir
from sentio.stack.running import stack_running
from sentio.stack.supervisor import stop_child
from sentio.stack.versions import load_versions

Progress = Callable[[str], None]
START_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 60.0
PAUSE_BETWEEN_S = 15.0  # lets VictoriaMetrics finish merging one reader's data before the next
STOP_TIMEOUT_S = 30.0
_SENTIO_DROPPED = re.compile(r"^stopped: .*?, (\d+) dropped \(", re.MULTILINE)


class BenchError(SentioError):
    """Raise when the ingest benchmark cannot run or measure."""


@dataclass(frozen=True)
class Phase:
    """What one reader did in its measured window."""

    readings: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float
    dropped_readings: int | None = None  # over the reader's whole run, by its own log
    errors: int | None = None  # Telegraf's error lines
    slow_gathers: int | None = None  # Telegraf's gathers that outlived their interval

    @property
    def readings_per_s(self) -> float:
        """Return readings that landed per wall-clock second."""
        return self.readings / self.seconds

    @property
    def cpu_s_per_100k(self) -> float:
        """Return the reader's CPU seconds per 100,000 readings."""
        return self.cpu_s / self.readings * 1e5 if self.readings else float("inf")


@dataclass(frozen=True)
class IngestReport:
    """The figures ``sentio bench ingest`` prints: medians over the runs, then every run."""

    readings_per_s: float
    readings_per_cpu_s: float
    cpu_s_per_100k: float
    cpu_s_per_100k_min: float
    cpu_s_per_100k_max: float
    peak_rss_mb: float
    telegraf_readings_per_s: float | None
    telegraf_cpu_s_per_100k: float | None
    telegraf_cpu_s_per_100k_min: float | None
    telegraf_cpu_s_per_100k_max: float | None
    telegraf_peak_rss_mb: float | None
    dropped_readings: int | None
    telegraf_dropped_readings: int | None
    telegraf_slow_gathers: int | None
    telegraf_errors: int | None
    ratio: float | None
    ratio_min: float | None
    ratio_max: float | None
    cpu_ratio_vs_telegraf: float | None
    repetitions: int
    poll_interval_ms: float
    window_s: float
    units: int
    connections: int
    readings_per_request: int
    otel_env: dict[str, str]
    runs: list[dict[str, Any]]


def _split(units: int, connections: int) -> list[list[int]]:
    """Deal unit ids 1..units over ``connections`` connections."""
    return [list(range(1 + c, units + 1, connections)) for c in range(connections)]


def _fields() -> list[dict[str, object]]:
    floats = [
        {"name": f"f{i}", "table": "holding", "address": 2 * i, "type": "float32"}
        for i in range(FLOATS)
    ]
    ints = [
        {"name": f"i{i}", "table": "holding", "address": 2 * FLOATS + i, "type": "int16",
         "scale": INT_SCALE}
        for i in range(INTS)
    ]  # fmt: skip
    return floats + ints


def collector_config(
    base: SentioConfig, port: int, connections: list[list[int]], run_id: str,
    interval_s: float = 0.001,
) -> dict[str, object]:  # fmt: skip
    """Return a Sentio config polling every meter each ``interval_s``, one instance a connection."""
    data = base.model_dump(mode="json")
    data["service"]["name"] = "sentio-bench-ingest"
    data["collector"] = {**data["collector"], "flush_interval_s": 0.2, "max_batch": 5000}
    data["connectors"] = [
        {
            "name": f"bench-{run_id}-{index}",
            "type": "modbus",
            "poll_interval_s": interval_s,
            "config": {
                "connection": {"host": "127.0.0.1", "port": port, "timeout_s": 2},
                "devices": [
                    {"name": f"meter-{unit}", "unit_id": unit, "fields": _fields()}
                    for unit in units
                ],
            },
        }
        for index, units in enumerate(connections)
    ]
    return data


def readings_selector(instance_prefix: str) -> str:
    """Return the selector of a run's device readings, leaving out the collector's own metrics."""
    return f'{{__name__!~"sentio_.*",instance=~"{instance_prefix}-.*",connector="modbus"}}'


@contextlib.contextmanager
def _spawning_on(cpus: Collection[int]) -> Iterator[None]:
    """Bind this thread to ``cpus`` (none: leave it) while a child is spawned, then restore it."""
    if not cpus:
        yield
        return
    # the child inherits the spawning thread's mask, its own threads included
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


@contextlib.contextmanager
def process(
    argv: list[str], log: Path, stop_timeout_s: float = STOP_TIMEOUT_S,
    cpus: Collection[int] = (),
) -> Iterator[subprocess.Popen[bytes]]:  # fmt: skip
    """Run ``argv`` with output to ``log``, bound to ``cpus`` if any; stop it on the way out."""
    with log.open("wb") as out, _spawning_on(cpus):
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_child(proc, stop_timeout_s)


def _flush(base_url: str) -> None:
    """Make every sample VictoriaMetrics has acknowledged searchable now (its pending rows)."""
    try:
        requests.get(f"{base_url}/internal/force_flush", timeout=30).raise_for_status()
    except requests.RequestException as exc:
        raise BenchError(f"flushing VictoriaMetrics failed: {exc}") from exc


def _count(base_url: str, selector: str, window_s: float, at: float) -> int:
    """Return how many samples matching ``selector`` have timestamps in (at - window, at]."""
    query = f"sum(count_over_time({selector}[{window_s * 1000:.0f}ms]))"
    try:
        resp = requests.get(
            f"{base_url}/api/v1/query", params={"query": query, "time": f"{at:.3f}"}, timeout=30
        )
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise BenchError(f"counting samples in VictoriaMetrics failed: {exc}") from exc
    result = resp.json()["data"]["result"]
    return int(float(result[0]["value"][1])) if result else 0


def _settled(base_url: str, selector: str, window_s: float, at: float) -> int:
    """Poll the count until two reads 2 s apart agree, each after a forced flush of the backend."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last = -1
    while True:
        _flush(base_url)
        count = _count(base_url, selector, window_s, at)
        if count == last and count > 0:
            return count
        if time.monotonic() > deadline:
            raise BenchError(f"sample count for {selector} still changing after 60 s: {count}")
        last = count
        time.sleep(2.0)


def _measure(
    proc: subprocess.Popen[bytes],
    base_url: str,
    selector: str,
    warmup_s: float,
    window_s: float,
    log: Path,
) -> Phase:
    """Wait for the first samples, warm up, then measure one window of ``proc``'s work."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while _count(base_url, selector, 3600, time.time()) == 0:
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-3000:]
            raise BenchError(f"no readings arrived from {proc.args!r}:\n{tail}")
        time.sleep(0.5)
    time.sleep(warmup_s)  # a measurement window, not a wait for data
    cpu0, t0 = cpu_seconds(proc.pid), time.time()
    time.sleep(window_s)
    cpu1, t1 = cpu_seconds(proc.pid), time.time()
    rss = peak_rss_mb(proc.pid)
    readings = _settled(base_url, selector, t1 - t0, t1)
    return Phase(readings, t1 - t0, cpu1 - cpu0, rss)


def _sentio(
    config: SentioConfig, port: int, connections: list[list[int]], work: Path,
    timing: Timing, profile: Path | None, progress: Progress,
) -> Phase:  # fmt: skip
    run_id = uuid.uuid4().hex[:8]
    cfg_path = work / "sentio-bench.yaml"
    data = collector_config(config, port, connections, run_id, timing.interval_s)
    cfg_path.write_text(yaml.safe_dump(data))
    argv = [str(Path(sys.executable).with_name("sentio")), "run", "-c", str(cfg_path)]
    if profile is not None:  # the profiler's overhead is in this run's figures too
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile), *argv]
    what = "profiling (not counted)" if profile else f"measuring {timing.window_s:g} s"
    progress(f"Sentio collector: {len(connections)} connection(s), {what}")
    log = work / "sentio.log"
    with process(argv, log) as proc:
        phase = _measure(
            proc, config.query_url(), readings_selector(f"bench-{run_id}"),
            timing.warmup_s, timing.window_s, log,
        )  # fmt: skip
    return dataclasses.replace(
        phase, dropped_readings=sentio_dropped(log.read_text(errors="replace"))
    )


def sentio_dropped(text: str) -> int | None:
    """Return the readings the collector's summary line says it dropped, None without one."""
    match = _SENTIO_DROPPED.search(text)
    return int(match.group(1)) if match else None


def otel_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Return the ``OTEL_*`` variables the readers inherit, header values masked."""
    return {
        key: "***" if "HEADERS" in key else redact(value)
        for key, value in sorted(environ.items())
        if key.startswith("OTEL_")
    }


def _telegraf(
    config: SentioConfig, port: int, connections: list[list[int]], work: Path, timing: Timing,
    progress: Progress,
) -> Phase:  # fmt: skip
    version = load_versions().get("TELEGRAF_VERSION")
    if not version:
        raise BenchError("versions.env pins no TELEGRAF_VERSION")
    binary = ensure_telegraf(version, config.stack.bin_dir or default_bin_dir(), progress)
    instance = f"telegraf-{uuid.uuid4().hex[:8]}"
    conf = work / "telegraf.conf"
    conf.write_text(
        render_config(port, connections, config.endpoint("metrics"), instance, timing.interval_s)
    )
    progress(
        f"Telegraf {version}: {len(connections)} connection(s), measuring {timing.window_s:g} s"
    )
    log = work / "telegraf.log"
    with process([str(binary), "--config", str(conf)], log) as proc:
        phase = _measure(
            proc, config.query_url(), f'{{instance="{instance}"}}', timing.warmup_s,
            timing.window_s, log,
        )  # fmt: skip
    lost = read_log(log.read_text(errors="replace"))
    return dataclasses.replace(
        phase, dropped_readings=lost.dropped_metrics * READINGS, errors=lost.errors,
        slow_gathers=lost.slow_gathers,
    )  # fmt: skip


def print_profile(path: Path, write: Progress, top: int = 25) -> None:
    """Write the ``top`` functions by own time from a cProfile dump."""
    stats = pstats.Stats(str(path))
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    total = sum(v[2] for _k, v in entries) or 1.0
    write(f"profile of the collector: top {top} by own time (of {total:.1f} s)")
    for (file, line, func), (_cc, calls, own, _cum, _callers) in entries[:top]:
        write(f"  {own / total:6.1%} {own:7.2f} s {calls:>10} {func} ({Path(file).name}:{line})")


@dataclass(frozen=True)
class Timing:
    """How each reader runs: its poll interval, warm-up and measured window."""

    interval_s: float
    warmup_s: float
    window_s: float


def _run_record(reader: str, repetition: int, phase: Phase) -> dict[str, Any]:
    lost = {"dropped_readings": phase.dropped_readings}
    if phase.errors is not None:
        lost |= {"errors": phase.errors, "slow_gathers": phase.slow_gathers}
    return {
        "reader": reader,
        "repetition": repetition,
        "readings": phase.readings,
        "seconds": round(phase.seconds, 3),
        "cpu_s": round(phase.cpu_s, 3),
        "readings_per_s": round(phase.readings_per_s),
        "cpu_s_per_100k": round(phase.cpu_s_per_100k, 4),
        "peak_rss_mb": round(phase.peak_rss_mb, 1),
        **lost,
    }


def summarize(
    sentio: list[Phase], telegraf: list[Phase], timing: Timing, units: int, connections: int
) -> IngestReport:
    """Return medians and spreads; each ratio pairs a Sentio run with the Telegraf run after it."""
    cpu = [p.cpu_s_per_100k for p in sentio]
    t_cpu = [p.cpu_s_per_100k for p in telegraf]
    ratios = [s / t for s, t in zip(cpu, t_cpu, strict=False)]
    median_cpu = statistics.median(cpu)
    runs: list[dict[str, Any]] = []
    for i, phase in enumerate(sentio):
        runs.append(_run_record("sentio", i + 1, phase))
        if i < len(telegraf):
            runs.append(_run_record("telegraf", i + 1, telegraf[i]))

    def rounded(values: list[float], digits: int, pick: Any) -> float | None:
        return round(pick(values), digits) if values else None

    def total(values: list[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    ratio = rounded(ratios, 3, statistics.median)
    return IngestReport(
        readings_per_s=round(statistics.median(p.readings_per_s for p in sentio)),
        readings_per_cpu_s=round(1e5 / median_cpu) if median_cpu else 0,
        cpu_s_per_100k=round(median_cpu, 4),
        cpu_s_per_100k_min=round(min(cpu), 4),
        cpu_s_per_100k_max=round(max(cpu), 4),
        peak_rss_mb=round(max(p.peak_rss_mb for p in sentio), 1),
        telegraf_readings_per_s=rounded([p.readings_per_s for p in telegraf], 0, statistics.median),
        telegraf_cpu_s_per_100k=rounded(t_cpu, 4, statistics.median),
        telegraf_cpu_s_per_100k_min=rounded(t_cpu, 4, min),
        telegraf_cpu_s_per_100k_max=rounded(t_cpu, 4, max),
        telegraf_peak_rss_mb=rounded([p.peak_rss_mb for p in telegraf], 1, max),
        dropped_readings=total([p.dropped_readings for p in sentio]),
        telegraf_dropped_readings=total([p.dropped_readings for p in telegraf]),
        telegraf_slow_gathers=total([p.slow_gathers for p in telegraf]),
        telegraf_errors=total([p.errors for p in telegraf]),
        ratio=ratio,
        ratio_min=rounded(ratios, 3, min),
        ratio_max=rounded(ratios, 3, max),
        cpu_ratio_vs_telegraf=ratio,
        repetitions=len(sentio),
        poll_interval_ms=timing.interval_s * 1000,
        window_s=timing.window_s,
        units=units,
        connections=connections,
        readings_per_request=READINGS,
        otel_env=otel_environment(),
        runs=runs,
    )


def run(
    config: SentioConfig, *, units: int, connections: int, timing: Timing, repetitions: int,
    baseline: bool, profile: Path | None, progress: Progress, workdir: Path | None = None,
) -> IngestReport:  # fmt: skip
    """Run the readers in turn ``repetitions`` times, starting the stack if it is not running.

    With ``profile``, one more collector run under cProfile follows; it is not counted. The
    readers' configs and logs go to ``workdir`` when given (kept), else a temporary one.
    """
    groups = _split(units, connections)
    inherited = otel_environment()
    if inherited:
        progress(f"the readers inherit {' '.join(f'{k}={v}' for k, v in inherited.items())}")
    sentio: list[Phase] = []
    telegraf: list[Phase] = []
    with stack_running(config, progress), contextlib.ExitStack() as stack:
        if workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            work = workdir
            work.mkdir(parents=True, exist_ok=True)
        with process(
            [sys.executable, "-m", "sentio.bench.meter", "--units", str(units)],
            work / "meter.log",
        ) as meter:
            port = _meter_port(meter, work / "meter.log")
            for i in range(repetitions):
                progress(f"repetition {i + 1} of {repetitions}")
                if i:
                    time.sleep(PAUSE_BETWEEN_S)
                sentio.append(_sentio(config, port, groups, work, timing, None, progress))
                if baseline:
                    time.sleep(PAUSE_BETWEEN_S)
                    telegraf.append(_telegraf(config, port, groups, work, timing, progress))
            if profile is not None:
                time.sleep(PAUSE_BETWEEN_S)
                _sentio(config, port, groups, work, timing, profile, progress)
    if profile is not None:
        print_profile(profile, progress)
    report = summarize(sentio, telegraf, timing, units, connections)
    for record in report.runs:
        progress(" ".join(f"{k}={v}" for k, v in record.items()))
    return report


def _meter_port(proc: subprocess.Popen[bytes], log: Path) -> int:
    """Wait for the simulator to print its port."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace")
        first = text.split("\n", 1)[0].strip()
        if "\n" in text and first.isdigit():
            return int(first)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise BenchError(f"the meter simulator did not start:\n{log.read_text(errors='replace')}")
