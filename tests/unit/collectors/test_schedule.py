"""Absolute poll schedules, the sleeps they use, and the missed ticks the runtime counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel
from sentio.collectors.runtime import Collector, Instance
from sentio.collectors.schedule import SPREAD_S, Schedule, phase
from sentio.collectors.supervision import Supervisor
from sentio.connectors.contract import Connector, Reading, Sample

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.telemetry import Telemetry

DEADLINE_S = 30.0


def test_ticks_stay_on_the_grid_whatever_each_poll_took() -> None:
    schedule = Schedule(1.0, 100.0)
    assert schedule.advance(100.3) == 0 and schedule.next_at == 101.0
    assert schedule.advance(101.9) == 0 and schedule.next_at == 102.0, "a slow poll shifts none"
    assert schedule.missed == 0


def test_a_poll_running_past_its_next_ticks_skips_them_and_counts_them() -> None:
    schedule = Schedule(1.0, 100.0)
    assert schedule.advance(102.5) == 2
    assert schedule.next_at == 103.0
    assert schedule.advance(104.0) == 1, "a tick reached exactly is already missed"
    assert (schedule.next_at, schedule.missed) == (105.0, 3)


def test_a_restart_puts_the_ticks_after_the_backoff() -> None:
    schedule = Schedule(1.0, 100.0)
    schedule.restart(107.25)
    assert schedule.advance(107.5) == 0 and schedule.next_at == 108.25


def test_the_phase_is_stable_and_spreads_within_the_first_interval_or_the_spread() -> None:
    assert phase("a/dev-1", 5.0) == phase("a/dev-1", 5.0)
    phases = [phase(f"fleet/c000u{u:03d}", 1.0) for u in range(200)]
    assert all(0.0 <= p < 1.0 for p in phases)
    assert max(phases) - min(phases) > 0.8, "spread over the interval, not bunched"
    assert all(0.0 <= phase(f"k{i}", 0.1) < 0.1 for i in range(50))
    assert all(0.0 <= phase(f"k{i}", 600.0) < SPREAD_S for i in range(50))


async def test_a_stop_wakes_every_sleeper_at_once() -> None:
    supervisor = Supervisor(0.1, 1.0)
    loop = asyncio.get_running_loop()
    sleepers = [asyncio.create_task(supervisor.sleep_until(loop.time() + 3600)) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(s.done() for s in sleepers)
    supervisor.stopping.set()
    await asyncio.wait_for(asyncio.gather(*sleepers), DEADLINE_S)
    assert not supervisor.stopping.sleepers, "no sleeper is left registered"
    await asyncio.wait_for(supervisor.wait(3600), DEADLINE_S)  # stopped: returns at once


async def test_a_sleep_ends_at_its_time_and_a_cancelled_one_unregisters() -> None:
    supervisor = Supervisor(0.1, 1.0)
    loop = asyncio.get_running_loop()
    when = loop.time() + 0.05
    await asyncio.wait_for(supervisor.sleep_until(when), DEADLINE_S)
    assert loop.time() >= when - 0.001
    task = asyncio.create_task(supervisor.sleep_until(loop.time() + 3600))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not supervisor.stopping.sleepers


class SlowConfig(BaseModel):
    first_poll_s: float = 0.25


class Slow(Connector[SlowConfig]):
    """A connector whose first poll takes longer than several intervals; the rest are quick."""

    config_model = SlowConfig

    def __init__(self, config: SlowConfig) -> None:
        super().__init__(config)
        self.starts: list[float] = []
        self.third = asyncio.Event()

    async def connect(self) -> None:
        pass

    async def read(self) -> AsyncIterator[Sample]:
        loop = asyncio.get_running_loop()
        self.starts.append(loop.time())
        if len(self.starts) == 1:
            await asyncio.sleep(self.config.first_poll_s)
        if len(self.starts) == 3:
            self.third.set()
        yield Reading("dev-1", "count", float(len(self.starts)))

    async def close(self) -> None:
        pass


async def test_a_slow_poll_skips_the_ticks_it_ran_past_and_the_collector_counts_them(
    tmp_path: Path,
) -> None:
    interval = 0.1
    config = SentioConfig.model_validate({"stack": {"data_dir": str(tmp_path)}})
    reader = InMemoryMetricReader()
    telemetry = Telemetry(
        Resource.create({}), MeterProvider(metric_readers=[reader]), TracerProvider(),
        LoggerProvider(),
    )  # fmt: skip
    collector = Collector(config, telemetry)
    connector = Slow(SlowConfig())
    inst = Instance(
        ConnectorInstanceConfig(name="slow", type="slow", poll_interval_s=interval), connector
    )
    collector.instances.append(inst)
    task = asyncio.create_task(collector._supervise(inst))
    await asyncio.wait_for(connector.third.wait(), DEADLINE_S)
    collector.stopping.set()
    await asyncio.wait_for(task, DEADLINE_S)
    first, second = connector.starts[:2]
    assert collector.missed_polls["slow"] >= 2, "0.25 s of polling ran past two 0.1 s ticks"
    assert second >= first + 0.3 - 0.02, "no poll starts right after the slow one: next tick"
    data = reader.get_metrics_data()
    assert data is not None
    points = [
        p
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        if m.name == "sentio.collector.poll.missed"
        for p in m.data.data_points  # type: ignore[union-attr]
    ]
    assert [p.value for p in points] == [collector.missed_polls["slow"]]
    assert points[0].attributes["instance"] == "slow"
