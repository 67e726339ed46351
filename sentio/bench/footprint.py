"""What each native process uses under the ingest benchmark's load: CPU cores and peak memory.

The figures are where the Kubernetes manifests' resource requests and limits come from
(``sentio.deploy.kubernetes``): the stack runs, the collector reads the simulated meters at full
speed for the window, and every backend's CPU seconds over the window and peak RSS are read
from /proc.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sentio.bench import ingest
from sentio.bench.procstat import ProcError, cpu_seconds, peak_rss_mb
from sentio.config import SentioConfig
from sentio.stack.backends import backends
from sentio.stack.running import stack_running
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Usage:
    """One process over the window: mean cores used and peak resident memory."""

    cores: float
    peak_rss_mb: float


@dataclass(frozen=True)
class FootprintReport:
    """Each backend's usage while the collector ingested ``readings_per_s``."""

    readings_per_s: float
    collector_cores: float
    collector_peak_rss_mb: float
    window_s: float
    backends: dict[str, Usage]


def run(
    config: SentioConfig, *, units: int, window_s: float, progress: Progress
) -> FootprintReport:
    """Start the stack unless it runs, drive the ingest benchmark, sample every backend."""
    with stack_running(config, progress):
        stack = Stack(config.stack, backends(load_versions()), config.stack.bin_dir)
        pids = {name: pid for name in stack.backends if (pid := stack.pid(name)) is not None}
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        started = time.monotonic()
        report = ingest.run(
            config, units=units, connections=4,
            timing=ingest.Timing(interval_s=0.001, warmup_s=5.0, window_s=window_s),
            repetitions=1, baseline=False, profile=None, progress=progress,
        )  # fmt: skip
        elapsed = time.monotonic() - started
        usage: dict[str, Usage] = {}
        for name, pid in pids.items():
            try:
                cores = (cpu_seconds(pid) - before[name]) / elapsed
                usage[name] = Usage(round(cores, 3), round(peak_rss_mb(pid), 1))
            except ProcError as exc:
                progress(f"{name}: {exc}")
    return FootprintReport(
        readings_per_s=report.readings_per_s,
        collector_cores=round(report.readings_per_s * report.cpu_s_per_100k / 1e5, 3),
        collector_peak_rss_mb=report.peak_rss_mb,
        window_s=window_s,
        backends=usage,
    )
