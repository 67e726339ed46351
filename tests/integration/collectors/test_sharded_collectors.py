"""Sharded collectors on 20 simulated pumps, counted where they land: the real VictoriaMetrics."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sentio.collectors.runtime import Collector
from sentio.collectors.sharding import Shard, apply, for_replicas, readings_identity
from sentio.simulators.pump import Pump, PumpServer

from sentio.config import SentioConfig
from sentio.stack.backends import backends
from sentio.stack.probe import poll
from sentio.stack.query import promql
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from sentio.telemetry import Telemetry, setup
from tests.conftest import free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(150)]
DEVICES = 20
POLL_S = 0.5
DEDUP = "1s"
FIELDS = [
    {"name": "vibration", "table": "input", "address": 0, "type": "float32", "unit": "mm/s"},
    {"name": "bearing_temperature", "table": "input", "address": 2, "type": "float32",
     "unit": "Cel"},
]  # fmt: skip


def fleet_config(base: SentioConfig, name: str, port: int) -> SentioConfig:
    """Return ``base`` with one Modbus instance reading DEVICES pumps every POLL_S."""
    data = base.model_dump(mode="json")
    data["service"]["name"] = "sharding-test"
    data["collector"] = {"flush_interval_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1}
    data["connectors"] = [
        {
            "name": name,
            "type": "modbus",
            "poll_interval_s": POLL_S,
            "config": {
                "connection": {"type": "tcp", "host": "127.0.0.1", "port": port, "timeout_s": 1},
                "devices": [
                    {"name": f"pump-{u}", "unit_id": u, "fields": FIELDS}
                    for u in range(1, DEVICES + 1)
                ],
            },
        }
    ]
    return SentioConfig.model_validate(data)


@pytest.fixture(scope="module")
def dedup_vm(
    stack_config_live: SentioConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SentioConfig]:
    """Start a VictoriaMetrics of its own that deduplicates to one sample per DEDUP.

    Logs and traces still go to the session's stack.
    """
    data = stack_config_live.model_dump(mode="json")
    data["stack"]["data_dir"] = str(tmp_path_factory.mktemp("dedup"))
    data["stack"]["victoriametrics"] = {"port": free_port(), "dedup_min_scrape_interval": DEDUP}
    config = SentioConfig.model_validate(data)
    stack = Stack(config.stack, {"victoriametrics": backends(load_versions())["victoriametrics"]})
    asyncio.run(stack.up(lambda _m: None))
    try:
        yield config
    finally:
        asyncio.run(stack.down(progress=lambda _m: None))


class Member:
    """One collector of the fleet, running in this event loop."""

    def __init__(self, config: SentioConfig, shard: Shard, spool: Path) -> None:
        data = for_replicas(config, shard).model_dump(mode="json")
        data["collector"]["spool_dir"] = str(spool)
        self.config = SentioConfig.model_validate(data)
        self.telemetry: Telemetry = setup(self.config)
        self.collector = Collector(self.config, self.telemetry, readings_identity(config, shard))
        self.owned = apply(self.collector, shard)[config.connectors[0].name] or []
        self.task = asyncio.create_task(self.collector.run())

    async def stop(self) -> None:
        """Stop collecting, flush, and shut the telemetry down."""
        self.collector.stopping.set()
        await asyncio.gather(self.task, return_exceptions=True)
        await asyncio.to_thread(self.telemetry.shutdown)


async def counts(session: aiohttp.ClientSession, base: str, query: str) -> dict[str, float]:
    """Return the query's value per device."""
    return {r["metric"]["device"]: float(r["value"][1]) for r in await promql(session, base, query)}


async def test_two_members_read_every_device_exactly_once(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    server = PumpServer({u: Pump(seed=u, noise=False) for u in range(1, DEVICES + 1)})
    await server.start()
    name = f"fleet-{uuid.uuid4().hex[:6]}"
    config = fleet_config(stack_config_live, name, server.port)
    members: list[Member] = []
    try:
        members = [Member(config, Shard(m, 2), tmp_path / f"spool-{m}") for m in range(2)]
        owned = [set(m.owned) for m in members]
        assert owned[0].isdisjoint(owned[1])
        assert owned[0] | owned[1] == {f"pump-{u}" for u in range(1, DEVICES + 1)}
        assert all(owned), owned

        async def polled_thrice() -> bool | None:
            done = [m.collector.accepted_by_device for m in members]
            return True if all(d[p] >= 3 * len(FIELDS) for d, o in zip(done, owned, strict=True)
                               for p in o) else None  # fmt: skip

        await poll(polled_thrice, 30, "three polls of every device")
    finally:
        for member in members:
            await member.stop()
        await server.stop()
    accepted: dict[str, int] = {}
    for member, mine in zip(members, owned, strict=True):
        assert set(member.collector.accepted_by_device) == mine  # nobody read another's device
        accepted.update(member.collector.accepted_by_device)
        assert member.collector.dropped == member.collector.refused == 0
    # the readings: the collector's own sentio_* metrics carry instance and connector too
    readings = f'{{__name__!~"sentio_.*", instance="{name}", connector="modbus"}}'
    query = f"sum by (device) (count_over_time({readings}[10m]))"
    async with aiohttp.ClientSession() as session:

        async def landed() -> dict[str, float] | None:
            got = await counts(session, config.query_url(), query)
            return got if got == {d: float(n) for d, n in accepted.items()} else None

        got = await poll(landed, 30, "every reading counted once in VictoriaMetrics")
    assert len(got) == DEVICES


async def test_replicated_members_lose_no_device_when_one_stops(
    dedup_vm: SentioConfig, tmp_path: Path
) -> None:
    server = PumpServer({u: Pump(seed=u, noise=False) for u in range(1, DEVICES + 1)})
    await server.start()
    name = f"fleet-{uuid.uuid4().hex[:6]}"
    config = fleet_config(dedup_vm, name, server.port)
    members: list[Member] = []
    selector = f'{{__name__=~"bearing_temperature.*", instance="{name}"}}'
    started = time.time()
    try:
        members = [Member(config, Shard(m, 3, 2), tmp_path / f"spool-{m}") for m in range(3)]
        for device in (f"pump-{u}" for u in range(1, DEVICES + 1)):
            assert sum(device in m.owned for m in members) == 2, device
        async with aiohttp.ClientSession() as session:
            base = config.query_url()

            async def fresh(after: float) -> dict[str, float] | None:
                query = f"tlast_over_time({selector}[1m])"
                got = await counts(session, base, query)
                return got if len(got) == DEVICES and min(got.values()) > after else None

            await poll(lambda: fresh(started), 30, "every device in VictoriaMetrics")
            stopped = members.pop(0)
            await stopped.stop()
            lonely = set(stopped.owned)
            stop_time = time.time()
            # Every device, those the stopped member shared included, keeps arriving.
            await poll(lambda: fresh(stop_time + 1), 30, "every device after one member stopped")
            assert len(lonely) >= 5
            span = time.time() - started
            per_series = await counts(
                session, base, f"count_over_time({selector}[{int(span) + 5}s])"
            )
    finally:
        for member in members:
            await member.stop()
        await server.stop()
    readings: dict[str, int] = {}
    for member in [stopped, *members]:
        for device, n in member.collector.accepted_by_device.items():
            readings[device] = readings.get(device, 0) + n // len(FIELDS)
    for device, count in per_series.items():
        # Deduplicated: about one sample per DEDUP, though two members read it every POLL_S.
        assert count <= span / float(DEDUP.rstrip("s")) + 3, (device, count, span)
        assert readings[device] > count, (device, readings[device], count)
    # each member's own metrics under its own service.instance.id, none overwriting another's
    own = f'sum by (service_instance_id) (sentio_collector_readings_total{{instance="{name}"}})'
    everyone = [stopped, *members]
    want = {m.config.instance_id(): float(m.collector.accepted) for m in everyone}
    assert len(want) == 3
    async with aiohttp.ClientSession() as session:

        async def exported() -> dict[str, float] | None:
            got = await promql(session, config.query_url(), own)
            by_id = {r["metric"].get("service_instance_id", ""): float(r["value"][1]) for r in got}
            return by_id if by_id == want else None

        await poll(exported, 30, f"each member's readings counter, {want}")
