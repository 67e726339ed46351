"""Ingest throughput: the collector at full speed against simulated meters, Telegraf as baseline.

Both read the same dense Modbus meters (``sentio.bench.meter``, in its own process) over the
same number of TCP connections, as fast as each can, into the same VictoriaMetrics over
OTLP/HTTP. Readings are counted where they land: samples whose timestamps fall in the
measured window, by PromQL. CPU is the reader's own (user + system, from /proc), so the
simulator's and the backend's CPU count for neither.
"""

from __future__ import annotations

import contextlib
import pstats
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from sentio.bench.meter import FLOATS, INT_SCALE, INTS, READINGS
from sentio.bench.procstat import cpu_seconds, peak_rss_mb
from sentio.bench.telegraf import ensure_telegraf, render_config
from sentio.config import SentioConfig
from sentio.errors import SentioError
from sentio.stack.install import default_bin_dir
from sentio.stack.running import stack_running
from sentio.stack.supervisor import stop_child
from sentio.stack.versions import load_versions

Progress = Callable[[str], None]
START_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 60.0
PAUSE_BETWEEN_S = 15.0  # lets VictoriaMetrics finish merging one reader's data before the next
STOP_TIMEOUT_S = 30.0


class BenchError(SentioError):
    """Raise when the ingest benchmark cannot run or measure."""


@dataclass(frozen=True)
class Phase:
    """What one reader did in its measured window."""

    readings: int
    seconds: float
    cpu_s: float
    peak_rss_mb: float

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
    """The figures ``sentio bench ingest`` prints."""

    readings_per_s: float
    readings_per_cpu_s: float
    cpu_s_per_100k: float
    peak_rss_mb: float
    telegraf_readings_per_s: float | None
    telegraf_cpu_s_per_100k: float | None
    telegraf_peak_rss_mb: float | None
    cpu_ratio_vs_telegraf: float | None
    window_s: float
    units: int
    connections: int
    readings_per_request: int


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
    base: SentioConfig, port: int, connections: list[list[int]], run_id: str
) -> dict[str, object]:
    """Return a Sentio config polling every meter back to back, one instance per connection."""
    data = base.model_dump(mode="json")
    data["service"]["name"] = "sentio-bench-ingest"
    data["collector"] = {**data["collector"], "flush_interval_s": 0.2, "max_batch": 5000}
    data["connectors"] = [
        {
            "name": f"bench-{run_id}-{index}",
            "type": "modbus",
            "poll_interval_s": 0.001,
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


@contextlib.contextmanager
def _process(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` with output to ``log``; terminate it (then kill) on the way out."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_child(proc, STOP_TIMEOUT_S)


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
    """Poll the count until two reads 2 s apart agree (the backend has flushed)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last = -1
    while True:
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
    warmup_s: float, window_s: float, profile: Path | None, progress: Progress,
) -> Phase:  # fmt: skip
    run_id = uuid.uuid4().hex[:8]
    cfg_path = work / "sentio-bench.yaml"
    cfg_path.write_text(yaml.safe_dump(collector_config(config, port, connections, run_id)))
    argv = [str(Path(sys.executable).with_name("sentio")), "run", "-c", str(cfg_path)]
    if profile is not None:  # the profiler's overhead is in this run's figures too
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile), *argv]
    progress(f"Sentio collector: {len(connections)} connection(s), measuring {window_s:g} s")
    with _process(argv, work / "sentio.log") as proc:
        return _measure(
            proc, config.query_url(), f'{{instance=~"bench-{run_id}-.*",connector="modbus"}}',
            warmup_s, window_s, work / "sentio.log",
        )  # fmt: skip


def _telegraf(
    config: SentioConfig, port: int, connections: list[list[int]], work: Path,
    warmup_s: float, window_s: float, progress: Progress,
) -> Phase:  # fmt: skip
    version = load_versions().get("TELEGRAF_VERSION")
    if not version:
        raise BenchError("versions.env pins no TELEGRAF_VERSION")
    binary = ensure_telegraf(version, config.stack.bin_dir or default_bin_dir(), progress)
    instance = f"telegraf-{uuid.uuid4().hex[:8]}"
    conf = work / "telegraf.conf"
    conf.write_text(render_config(port, connections, config.endpoint("metrics"), instance))
    progress(f"Telegraf {version}: {len(connections)} connection(s), measuring {window_s:g} s")
    with _process([str(binary), "--config", str(conf)], work / "telegraf.log") as proc:
        return _measure(
            proc, config.query_url(), f'{{instance="{instance}"}}', warmup_s, window_s,
            work / "telegraf.log",
        )  # fmt: skip


def print_profile(path: Path, write: Progress, top: int = 25) -> None:
    """Write the ``top`` functions by own time from a cProfile dump."""
    stats = pstats.Stats(str(path))
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)  # type: ignore[attr-defined]
    total = sum(v[2] for _k, v in entries) or 1.0
    write(f"profile of the collector: top {top} by own time (of {total:.1f} s)")
    for (file, line, func), (_cc, calls, own, _cum, _callers) in entries[:top]:
        write(f"  {own / total:6.1%} {own:7.2f} s {calls:>10} {func} ({Path(file).name}:{line})")


def run(
    config: SentioConfig, *, units: int, connections: int, warmup_s: float, window_s: float,
    baseline: bool, profile: Path | None, progress: Progress, workdir: Path | None = None,
) -> IngestReport:  # fmt: skip
    """Run the benchmark, starting and stopping the stack if it is not running.

    The readers' configs and logs go to ``workdir`` when given (kept), else a temporary one.
    """
    groups = _split(units, connections)
    with stack_running(config, progress), contextlib.ExitStack() as stack:
        if workdir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        else:
            work = workdir
            work.mkdir(parents=True, exist_ok=True)
        with _process(
            [sys.executable, "-m", "sentio.bench.meter", "--units", str(units)],
            work / "meter.log",
        ) as meter:
            port = _meter_port(meter, work / "meter.log")
            sentio = _sentio(config, port, groups, work, warmup_s, window_s, profile, progress)
            telegraf = None
            if baseline:
                time.sleep(PAUSE_BETWEEN_S)
                telegraf = _telegraf(config, port, groups, work, warmup_s, window_s, progress)
    if profile is not None:
        print_profile(profile, progress)
    return IngestReport(
        readings_per_s=round(sentio.readings_per_s),
        readings_per_cpu_s=round(sentio.readings / sentio.cpu_s) if sentio.cpu_s else 0,
        cpu_s_per_100k=round(sentio.cpu_s_per_100k, 3),
        peak_rss_mb=round(sentio.peak_rss_mb, 1),
        telegraf_readings_per_s=round(telegraf.readings_per_s) if telegraf else None,
        telegraf_cpu_s_per_100k=round(telegraf.cpu_s_per_100k, 3) if telegraf else None,
        telegraf_peak_rss_mb=round(telegraf.peak_rss_mb, 1) if telegraf else None,
        cpu_ratio_vs_telegraf=(
            round(sentio.cpu_s_per_100k / telegraf.cpu_s_per_100k, 2) if telegraf else None
        ),
        window_s=window_s,
        units=units,
        connections=connections,
        readings_per_request=READINGS,
    )


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
