"""Emit-to-queryable latency of each signal through the real backends."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from sentio.config import SentioConfig
from sentio.stack.probe import Probe, Sample
from sentio.stack.running import stack_running
from sentio.telemetry import setup

if TYPE_CHECKING:
    from sentio.bench.collector_roundtrip import CollectorRoundTripReport

Progress = Callable[[str], None]


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values`` by linear interpolation."""
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[round(q * 100) - 1]


@dataclass(frozen=True)
class RoundTripReport:
    """Latency percentiles per signal over ``samples`` probes."""

    samples: int
    metric_p50_s: float
    metric_p99_s: float
    log_p50_s: float
    log_p99_s: float
    trace_p50_s: float
    trace_p99_s: float
    started_stack: bool
    collector: CollectorRoundTripReport | None = None


def summarize(
    samples: list[Sample], started_stack: bool, collector: CollectorRoundTripReport | None = None
) -> RoundTripReport:
    """Return percentiles of the samples' latencies."""
    m = [s.metric_s for s in samples]
    lg = [s.log_s for s in samples]
    t = [s.trace_s for s in samples]
    return RoundTripReport(
        samples=len(samples),
        metric_p50_s=round(percentile(m, 0.5), 3),
        metric_p99_s=round(percentile(m, 0.99), 3),
        log_p50_s=round(percentile(lg, 0.5), 3),
        log_p99_s=round(percentile(lg, 0.99), 3),
        trace_p50_s=round(percentile(t, 0.5), 3),
        trace_p99_s=round(percentile(t, 0.99), 3),
        started_stack=started_stack,
        collector=collector,
    )


async def measure(config: SentioConfig, count: int, progress: Progress) -> list[Sample]:
    """Send ``count`` probes one after another and time each."""
    telemetry = setup(config, **{"sentio.bench": "roundtrip"})
    probe = Probe(config, telemetry)
    samples: list[Sample] = []
    try:
        async with aiohttp.ClientSession() as session:
            for index in range(count):
                samples.append(await probe.run(session, f"rt-{index}", float(index)))
                if (index + 1) % 10 == 0:
                    progress(f"{index + 1}/{count} samples")
    finally:
        await asyncio.to_thread(telemetry.shutdown)
    return samples


def run(
    config: SentioConfig,
    count: int,
    progress: Progress,
    collector_samples: int = 0,
    poll_interval_s: float | None = None,
) -> RoundTripReport:
    """Measure ``count`` SDK round trips and ``collector_samples`` collector-path ones.

    The stack is started and stopped if it is not running.
    """
    from sentio.bench.collector_roundtrip import measure as measure_collector

    collector = None
    with stack_running(config, progress) as started:
        samples = asyncio.run(measure(config, count, progress))
        if collector_samples:
            collector = asyncio.run(
                measure_collector(config, collector_samples, poll_interval_s, progress)
            )
    return summarize(samples, started, collector)
