"""The fleet against a baseline: the collector and Telegraf over the same fleet, alternating.

Each repetition runs the collector, then (with ``baseline="telegraf"``) Telegraf's Modbus input
over a fresh simulator of the same fleet (one request per device, the same interval), into the
same VictoriaMetrics, counted the same way (``sentio.bench.fleet``). Figures are medians over
the repetitions with their spread; each ratio pairs a collector run with the Telegraf run after
it: CPU per reading, peak RSS per device, and poll lag p99.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentio.bench.fleet import (
    FleetReport,
    Progress,
    fleet_backend,
    phase,
    print_profile,
    sentio_reader,
    telegraf_reader,
)
from sentio.bench.telegraf import ensure_telegraf
from sentio.errors import SentioError
from sentio.stack.install import default_bin_dir
from sentio.stack.versions import load_versions

BASELINES = ("none", "telegraf")


class BaselineError(SentioError):
    """Raise when the fleet's baseline cannot be run."""


@dataclass(frozen=True)
class ReaderSummary:
    """One reader's figures over the repetitions: medians, with the spread where it matters."""

    readings_per_s: float
    cpu_s_per_100k: float
    cpu_s_per_100k_min: float
    cpu_s_per_100k_max: float
    cores: float
    poll_lag_p50_s: float
    poll_lag_p99_s: float
    poll_lag_p99_worst_s: float
    poll_lag_max_s: float
    peak_rss_mb: float
    rss_per_device_kib: float
    dropped: int
    duplicates: int


@dataclass(frozen=True)
class FleetComparison:
    """What ``sentio bench fleet --repeat N [--baseline telegraf]`` prints."""

    devices: int
    connections: int
    poll_interval_s: float
    window_s: float
    repetitions: int
    expected_readings_per_s: float
    sentio: ReaderSummary
    spans_per_poll: float
    telegraf: ReaderSummary | None
    cpu_ratio_vs_telegraf: float | None
    cpu_ratio_min: float | None
    cpu_ratio_max: float | None
    rss_per_device_ratio_vs_telegraf: float | None
    poll_lag_p99_ratio_vs_telegraf: float | None
    runs: list[dict[str, Any]]
    reader_cpus: list[int] = dataclasses.field(default_factory=list)  # empty: not bound


def summarize_reader(reports: Sequence[FleetReport]) -> ReaderSummary:
    """Return the medians and spreads of one reader's repetitions."""
    cpu = [r.cpu_s_per_100k for r in reports]
    p99 = [r.poll_lag_p99_s for r in reports]
    return ReaderSummary(
        readings_per_s=statistics.median(r.readings_per_s for r in reports),
        cpu_s_per_100k=round(statistics.median(cpu), 3),
        cpu_s_per_100k_min=min(cpu),
        cpu_s_per_100k_max=max(cpu),
        cores=round(statistics.median(r.collector_cores for r in reports), 3),
        poll_lag_p50_s=round(statistics.median(r.poll_lag_p50_s for r in reports), 4),
        poll_lag_p99_s=round(statistics.median(p99), 4),
        poll_lag_p99_worst_s=max(p99),
        poll_lag_max_s=max(r.poll_lag_max_s for r in reports),
        peak_rss_mb=max(r.collector_rss_mb for r in reports),
        rss_per_device_kib=round(statistics.median(r.rss_per_device_kib for r in reports), 1),
        dropped=sum(r.dropped for r in reports),
        duplicates=sum(r.duplicates for r in reports),
    )


def _ratio(ours: float, theirs: float) -> float:
    return ours / theirs if theirs else float("inf")


def compare(
    sentio: Sequence[FleetReport], telegraf: Sequence[FleetReport],
    reader_cpus: Sequence[int] = (),
) -> FleetComparison:  # fmt: skip
    """Return the comparison of the collector's runs with Telegraf's (none: no baseline)."""
    first = sentio[0]
    pairs = list(zip(sentio, telegraf, strict=False))
    cpu = [_ratio(s.cpu_s_per_100k, t.cpu_s_per_100k) for s, t in pairs]
    rss = [_ratio(s.rss_per_device_kib, t.rss_per_device_kib) for s, t in pairs]
    lag = [_ratio(s.poll_lag_p99_s, t.poll_lag_p99_s) for s, t in pairs]

    def median(values: list[float]) -> float | None:
        return round(statistics.median(values), 3) if values else None

    runs = [{"repetition": i + 1, **dataclasses.asdict(r)} for i, r in enumerate(sentio)]
    runs += [{"repetition": i + 1, **dataclasses.asdict(r)} for i, r in enumerate(telegraf)]
    return FleetComparison(
        devices=first.devices,
        connections=first.connections,
        poll_interval_s=first.poll_interval_s,
        window_s=first.window_s,
        repetitions=len(sentio),
        expected_readings_per_s=first.expected_readings_per_s,
        sentio=summarize_reader(sentio),
        spans_per_poll=statistics.median(r.spans_per_poll for r in sentio),
        telegraf=summarize_reader(telegraf) if telegraf else None,
        cpu_ratio_vs_telegraf=median(cpu),
        cpu_ratio_min=round(min(cpu), 3) if cpu else None,
        cpu_ratio_max=round(max(cpu), 3) if cpu else None,
        rss_per_device_ratio_vs_telegraf=median(rss),
        poll_lag_p99_ratio_vs_telegraf=median(lag),
        runs=runs,
        reader_cpus=list(reader_cpus),
    )


async def run(
    work: Path, *, devices: int, duration_s: float, warmup_s: float = 10.0,
    interval_s: float = 1.0, repeat: int = 1, baseline: str = "none",
    profile: Path | None = None, progress: Progress = lambda _m: None,
    reader_cpus: tuple[int, ...] = (),
) -> FleetComparison:  # fmt: skip
    """Run ``repeat`` collector phases, each followed by a Telegraf phase with the baseline."""
    if baseline not in BASELINES:
        raise BaselineError(f"--baseline is one of {', '.join(BASELINES)}, not {baseline!r}")
    binary: Path | None = None
    if baseline == "telegraf":
        version = load_versions().get("TELEGRAF_VERSION")
        if not version:
            raise BaselineError("versions.env pins no TELEGRAF_VERSION")
        binary = await asyncio.to_thread(ensure_telegraf, version, default_bin_dir(), progress)
    ours: list[FleetReport] = []
    theirs: list[FleetReport] = []
    async with fleet_backend(
        work, devices=devices, duration_s=duration_s, warmup_s=warmup_s, interval_s=interval_s,
        progress=progress, reader_cpus=reader_cpus,
    ) as fleet:  # fmt: skip
        for i in range(repeat):
            progress(f"fleet: repetition {i + 1} of {repeat}")
            ours.append(await phase(fleet, functools.partial(sentio_reader, fleet, profile=profile),
                                    progress))  # fmt: skip
            if binary is not None:
                reader = functools.partial(telegraf_reader, fleet, binary)
                theirs.append(await phase(fleet, reader, progress))
    if profile is not None:
        print_profile(profile, progress)
    return compare(ours, theirs, reader_cpus)
