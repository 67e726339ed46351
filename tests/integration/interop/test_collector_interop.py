"""The collector over node-opcua and real Zigbee2MQTT exposes, into the real VictoriaMetrics.

A constant value is sent once by an OPC-UA subscription and once by a Zigbee device; the
collector's heartbeat must keep its age in PromQL (``time() - timestamp(metric)``) below the
heartbeat, so an instant query always finds it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import aiomqtt
import pytest
from sentio.collectors.runtime import Collector

from sentio.config import SentioConfig
from sentio.stack.query import promql
from sentio.telemetry import setup
from tests.integration.connectors.conftest import Mosquitto

from .conftest import NodeOpcua

HEARTBEAT_S = 2.0
DEADLINE_S = 60.0  # VictoriaMetrics may take seconds to show a series first asked for early
URI = "urn:sentio:interop"


def _config(live: SentioConfig, run: str, opcua: str, broker: Mosquitto) -> SentioConfig:
    data = live.model_dump(mode="json")
    data["service"]["name"] = "collector-interop-test"
    data["collector"] = {"flush_interval_s": 0.2, "backoff_initial_s": 0.2, "backoff_max_s": 1}
    report = {"mode": "on_change", "heartbeat_s": HEARTBEAT_S}
    node = {"name": "setpoint", "node_id": f"nsu={URI};s=Boiler.Setpoint", "unit": "Cel"}
    data["connectors"] = [
        {
            "name": f"{run}-opcua",
            "type": "opcua",
            "report": report,
            "config": {
                "endpoint": opcua,
                "mode": "subscribe",
                "subscription": {"publishing_interval_s": 0.1},
                "devices": [{"name": "boiler", "nodes": [node]}],
            },
        },
        {
            "name": f"{run}-z2m",
            "type": "zigbee2mqtt",
            "report": report,
            "config": {
                "broker": {"host": broker.host, "port": broker.port, "qos": 1},
                "base_topic": run,
            },
        },
    ]
    return SentioConfig.model_validate(data)


async def publish(broker: Mosquitto, *messages: tuple[str, Any], retain: bool = False) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for topic, payload in messages:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            await client.publish(topic, body, qos=1, retain=retain)


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE_S} s"
        await asyncio.sleep(0.3)


@pytest.fixture
async def running(
    stack_config_live: SentioConfig,
    node_opcua: NodeOpcua,
    mosquitto: Mosquitto,
    bridge_devices: dict[str, Any],
) -> AsyncIterator[tuple[Collector, SentioConfig, str]]:
    run = f"interop-{uuid.uuid4().hex[:6]}"
    devices = json.dumps(bridge_devices["devices"]).encode()
    await publish(mosquitto, (f"{run}/bridge/devices", devices), retain=True)
    config = _config(stack_config_live, run, node_opcua.endpoint, mosquitto)
    telemetry = setup(config)
    collector = Collector(config, telemetry)
    task = asyncio.create_task(collector.run())
    try:
        yield collector, config, run
    finally:
        collector.stopping.set()
        await asyncio.wait_for(task, timeout=30)
        await asyncio.to_thread(telemetry.shutdown)
        for topic in ("bridge/devices", "climate"):
            await publish(mosquitto, (f"{run}/{topic}", b""), retain=True)


async def test_constant_values_stay_younger_than_the_heartbeat(
    running: tuple[Collector, SentioConfig, str], mosquitto: Mosquitto
) -> None:
    _collector, config, run = running
    state = {"temperature": 19.25, "battery": 90}
    await publish(mosquitto, (f"{run}/climate", state), retain=True)  # sent once
    base = config.query_url()
    series = {
        "opcua": f'setpoint_celsius{{instance="{run}-opcua"}}',
        "zigbee": f'temperature_celsius{{instance="{run}-z2m"}}',
    }
    async with aiohttp.ClientSession() as session:

        async def resent() -> bool:
            for selector in series.values():
                found = await promql(session, base, f"count_over_time({selector}[5m])")
                if not found or float(found[0]["value"][1]) < 4:
                    return False
            return True

        await until(resent, "three heartbeats of each constant value")
        for name, selector in series.items():
            [age] = await promql(session, base, f"time() - timestamp({selector})")
            assert float(age["value"][1]) < HEARTBEAT_S + 1.0, (name, age)
            [value] = await promql(session, base, selector)
            assert float(value["value"][1]) in (21.5, 19.25)
