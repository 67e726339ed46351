"""A collector of more devices than the metrics SDK's default cardinality keeps (2,000).

Past it the SDK merges further attribute sets into one point labelled
``otel_metric_overflow``: a device beyond the 2,000th would have no ``device_up`` of its own,
and a down one would raise no alert.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
from sentio.collectors.runtime import Collector, Instance
from sentio.connectors.contract import DeviceSchedule, ReadingBatch, Sample

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.stack.probe import poll
from sentio.stack.query import Backends, promql
from sentio.telemetry import setup
from tests.unit.collectors.meters import METRICS, Meters

DEVICES = 2500


class Fleet(Meters):
    """``DEVICES`` meters, each answering every poll; the last one never answers."""

    def __init__(self, run: str) -> None:
        super().__init__()
        self.names = [f"m{run}-{i:04d}" for i in range(DEVICES)]
        self.polled: set[str] = set()

    def devices(self) -> Sequence[DeviceSchedule]:
        return [DeviceSchedule(name, 0.5) for name in self.names]

    async def poll(self, device: str) -> AsyncIterator[Sample]:
        self.polled.add(device)
        await asyncio.sleep(0)
        if device == self.names[-1]:
            raise OSError(f"{device}: no route to host")
        yield ReadingBatch(device, METRICS, [230.5, 1.25])


async def test_every_device_of_a_large_collector_has_its_own_health_series(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    config = stack_config_live.model_copy(
        update={
            "collector": stack_config_live.collector.model_copy(update={"spool_dir": tmp_path}),
            "telemetry": stack_config_live.telemetry.model_copy(update={"export_interval_s": 1}),
        }
    )
    run = uuid.uuid4().hex[:8]
    telemetry = setup(config, **{"sentio.component": "collector"})
    collector = Collector(config, telemetry)
    fleet = Fleet(run)
    inst = Instance(ConnectorInstanceConfig(name=f"many-{run}", type="fake"), fleet)
    collector.instances.append(inst)
    tasks = collector._tasks(inst)
    try:
        deadline = time.monotonic() + 60
        while len(fleet.polled) < DEVICES:
            assert time.monotonic() < deadline, f"{len(fleet.polled)} of {DEVICES} polled"
            await asyncio.sleep(0.05)
        await asyncio.sleep(0)
        assert await asyncio.to_thread(telemetry.flush)
    finally:
        collector.stopping.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.to_thread(telemetry.shutdown)
    base = Backends(config.stack).vm
    selector = f'instance="many-{run}"'
    async with aiohttp.ClientSession() as session:

        async def counted(query: str) -> int | None:
            result = await promql(session, base, query)
            count = int(float(result[0]["value"][1])) if result else 0
            return count if count >= DEVICES else None

        await poll(lambda: counted(f"count(sentio_collector_device_up{{{selector}}})"), 60,
                   f"{DEVICES} device_up series")  # fmt: skip
        await poll(
            lambda: counted(f"count(sentio_collector_poll_duration_seconds_count{{{selector}}})"),
            60, f"{DEVICES} poll duration series",
        )  # fmt: skip
        # the overflow point carries the overflow attribute alone, not the instance
        overflow = await promql(session, base, '{__name__=~"sentio_.*", otel_metric_overflow!=""}')
        assert overflow == [], "no device merged into the SDK's overflow point"
        # buckets in seconds: quick polls fall below 1 s, even on a loaded machine (the SDK's
        # default boundaries start at 5, which would put the median at 2.5 s)
        median = await promql(
            session,
            base,
            "histogram_quantile(0.5, sum by (le) "
            f"(sentio_collector_poll_duration_seconds_bucket{{{selector}}}))",
        )
        assert float(median[0]["value"][1]) < 1.0, median
        down = await promql(session, base, f"sentio_collector_device_up{{{selector}}} == 0")
        assert [s["metric"]["device"] for s in down] == [fleet.names[-1]]
