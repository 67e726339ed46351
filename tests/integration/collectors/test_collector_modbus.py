"""The collector with the Modbus connector against a simulated pump and the real VictoriaMetrics."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sentio.collectors.registry import build
from sentio.collectors.runtime import Collector
from sentio.simulators.pump import Pump, PumpServer

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.errors import ConfigError
from sentio.stack.backends import backends
from sentio.stack.probe import poll
from sentio.stack.query import promql
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from sentio.telemetry import setup
from tests.conftest import stack_config

FIELDS = [
    {"name": "vibration", "table": "input", "address": 0, "type": "float32", "unit": "mm/s"},
    {"name": "bearing_temperature", "table": "input", "address": 2, "type": "float32",
     "unit": "Cel"},
]  # fmt: skip


def _config(live: SentioConfig, name: str, port: int) -> SentioConfig:
    data = live.model_dump(mode="json")
    data["service"]["name"] = "collector-test"
    data["collector"] = {"flush_interval_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1}
    data["connectors"] = [
        {
            "name": name,
            "type": "modbus",
            "poll_interval_s": 0.5,
            "config": {
                "connection": {"type": "tcp", "host": "127.0.0.1", "port": port,
                               "timeout_s": 0.5, "retries": 0},
                "devices": [{"name": "pump-1", "unit_id": 1, "fields": FIELDS}],
            },
        }
    ]  # fmt: skip
    return SentioConfig.model_validate(data)


class Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_readings_arrive_and_a_lost_device_is_reported_once_then_recovers(
    stack_config_live: SentioConfig,
) -> None:
    pump = Pump(seed=3, noise=False)
    server = PumpServer({1: pump})
    await server.start()
    name = f"pumps-{uuid.uuid4().hex[:6]}"
    config = _config(stack_config_live, name, server.port)
    telemetry = setup(config)
    capture = Capture()
    device_log = logging.getLogger("sentio.collector.devices")
    device_log.addHandler(capture)
    previous_level = device_log.level
    device_log.setLevel(logging.INFO)
    collector = Collector(config, telemetry)
    task = asyncio.create_task(collector.run())
    health = collector.instances[0].devices
    try:
        async with aiohttp.ClientSession() as session:
            query = f'{{__name__=~"bearing_temperature.*", instance="{name}"}}'

            async def samples() -> list[dict[str, Any]] | None:
                got = await promql(session, config.query_url(), f"count_over_time({query}[5m])")
                return got if got and float(got[0]["value"][1]) >= 3 else None

            await poll(samples, 30, "three bearing temperature samples")
            latest = (await promql(session, config.query_url(), query))[0]
            assert latest["metric"]["device"] == "pump-1"
            assert latest["metric"]["connector"] == "modbus"
            assert float(latest["value"][1]) == pytest.approx(
                pump.values["bearing_temperature"], rel=1e-6
            )

            await server.stop()

            async def down() -> bool | None:
                return True if "pump-1" in health and not health["pump-1"].up else None

            await poll(down, 30, "pump-1 reported down")
            restarted = PumpServer({1: pump}, port=server.port)
            await restarted.start()
            try:

                async def up() -> bool | None:
                    return True if health["pump-1"].up else None

                await poll(up, 30, "pump-1 recovered")
            finally:
                collector.stopping.set()
                await task
                await restarted.stop()
    finally:
        collector.stopping.set()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
        device_log.removeHandler(capture)
        device_log.setLevel(previous_level)
        await asyncio.to_thread(telemetry.shutdown)
    downs = [m for m in capture.messages if "is down" in m]
    assert len(downs) == 1, capture.messages
    assert "device pump-1 recovered" in capture.messages
    assert collector.dropped == 0 and collector.sent >= 6


def test_unknown_connector_names_the_group_and_the_name() -> None:
    instance = ConnectorInstanceConfig(name="x", type="no-such-connector")
    with pytest.raises(ConfigError, match=r"'no-such-connector'.*'sentio\.connectors'"):
        build(instance, "connectors[0]")


def test_bad_connector_settings_name_their_path() -> None:
    instance = ConnectorInstanceConfig(name="x", type="modbus", config={"devices": "nope"})
    with pytest.raises(ConfigError, match=r"connectors\[2\]\.config\.connection"):
        build(instance, "connectors[2]")


async def test_a_metrics_backend_outage_loses_no_reading(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    own = stack_config(tmp_path / "vm")
    vm = Stack(own.stack, {"victoriametrics": backends(load_versions())["victoriametrics"]})
    await vm.up(lambda _m: None)
    pump = Pump(seed=5, noise=False)
    server = PumpServer({1: pump}, advance_every_s=0.2)
    await server.start()
    name = f"outage-{uuid.uuid4().hex[:6]}"
    data = _config(stack_config_live, name, server.port).model_dump(mode="json")
    data["stack"]["victoriametrics"]["port"] = own.stack.victoriametrics.port
    data["collector"]["spool_dir"] = str(tmp_path / "spool")
    config = SentioConfig.model_validate(data)
    telemetry = setup(config)
    collector = Collector(config, telemetry)
    task = asyncio.create_task(collector.run())
    try:

        async def until(check: Any, what: str) -> None:
            await poll(lambda: _truthy(check()), 60, what)

        await until(lambda: collector.sent >= 6, "readings delivered")
        await vm.down(progress=lambda _m: None)
        await until(lambda: len(collector.spool) >= 3, "requests spooled during the outage")
        await vm.up(lambda _m: None)
        await until(lambda: len(collector.spool) == 0, "the spool replayed")
    finally:
        collector.stopping.set()
        await asyncio.gather(task, return_exceptions=True)
        await server.stop()
        await asyncio.to_thread(telemetry.shutdown)
    try:
        async with aiohttp.ClientSession() as session:
            query = f'sum(count_over_time({{instance="{name}"}}[30m]))'

            async def everything() -> float | None:
                got = await promql(session, config.query_url(), query)
                count = float(got[0]["value"][1]) if got else 0.0
                return count if count == collector.accepted else None

            await poll(everything, 30, f"all {collector.accepted} readings in VictoriaMetrics")
        assert collector.spool.replayed >= 3
        assert collector.spool.dropped == 0 and collector.dropped == 0 and collector.refused == 0
    finally:
        await vm.down(progress=lambda _m: None)


async def _truthy(value: object) -> bool | None:
    return True if value else None
