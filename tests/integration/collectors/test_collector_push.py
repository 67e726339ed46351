"""The collector driving a push connector (OPC-UA subscriptions) into the real VictoriaMetrics."""

from __future__ import annotations

import asyncio
import time
import uuid

import aiohttp
from sentio.collectors.runtime import Collector

from sentio.config import SentioConfig
from sentio.stack.query import promql
from sentio.telemetry import setup
from tests.integration.connectors.opcua_server import OpcuaServer, boiler, nsu, opcua_server

__all__ = ["opcua_server"]
DEADLINE_S = 30.0


def _config(live: SentioConfig, name: str, endpoint: str) -> SentioConfig:
    data = live.model_dump(mode="json")
    data["service"]["name"] = "collector-push-test"
    data["collector"] = {"flush_interval_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1}
    data["connectors"] = [
        {
            "name": name,
            "type": "opcua",
            "config": {
                "endpoint": endpoint,
                "timeout_s": 2.0,
                "mode": "subscribe",
                "subscription": {"publishing_interval_s": 0.05, "sampling_interval_s": 0.0},
                "devices": [boiler({"temperature": nsu("temperature")})],
            },
        }
    ]
    return SentioConfig.model_validate(data)


async def _values(session: aiohttp.ClientSession, base: str, name: str) -> set[float]:
    """Return every distinct temperature sample stored for the instance in the last hour."""
    result = await promql(session, base, f'temperature_celsius{{instance="{name}"}}[1h]')
    return {float(v) for series in result for _t, v in series.get("values", [])}


async def _until_stored(session: aiohttp.ClientSession, base: str, name: str, want: float) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while want not in await _values(session, base, name):
        assert time.monotonic() < deadline, f"{want} never arrived in VictoriaMetrics"
        await asyncio.sleep(0.5)


async def test_subscribed_changes_arrive_and_survive_a_server_restart(
    stack_config_live: SentioConfig, opcua_server: OpcuaServer
) -> None:
    name = f"push-{uuid.uuid4().hex[:6]}"
    config = _config(stack_config_live, name, opcua_server.endpoint)
    telemetry = setup(config)
    collector = Collector(config, telemetry)
    inst = collector.instances[0]
    assert inst.connector.push, "mode subscribe makes the OPC-UA connector a push connector"
    task = asyncio.create_task(collector.run())
    base = config.query_url()
    try:
        async with aiohttp.ClientSession() as session:
            await opcua_server.node("temperature").write_value(23.25)
            await _until_stored(session, base, name, 23.25)
            assert inst.devices["boiler-1"].up

            await opcua_server.stop()
            deadline = time.monotonic() + DEADLINE_S
            while inst.devices.get(name) is None or inst.devices[name].up:
                assert time.monotonic() < deadline, "the lost stream never marked the entry down"
                await asyncio.sleep(0.1)

            await opcua_server.start(extra_namespaces=("urn:sentio:shift",))
            await opcua_server.node("temperature").write_value(31.5)
            await _until_stored(session, base, name, 31.5)
            assert inst.devices[name].up, "the entry is up again once its stream is back"
    finally:
        collector.stopping.set()
        await asyncio.wait_for(task, timeout=30)
        await asyncio.to_thread(telemetry.shutdown)
