"""The collector over node-opcua and real Zigbee2MQTT exposes, into the real VictoriaMetrics.

A constant value is sent once by an OPC-UA subscription and once by a Zigbee device; the
collector's heartbeat must keep its age in PromQL (``time() - timestamp(metric)``) below the
heartbeat, so an instant query always finds it.
"""

from __future__ import annotations

import asyncio
import json
import logging
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
    data["telemetry"]["export_interval_s"] = 1  # the collector's own metrics, device_up among them
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


def _downs(records: list[logging.LogRecord], device: str) -> tuple[int, int]:
    mine = [r.getMessage() for r in records if getattr(r, "device", None) == device]
    return (
        sum(m == f"device {device} is down: {device} is offline" for m in mine)
        + sum(m.startswith(f"device {device} is down: {device}: the bridge") for m in mine),
        sum(m == f"device {device} recovered" for m in mine),
    )


async def test_availability_offline_is_a_device_down_and_online_its_recovery(
    running: tuple[Collector, SentioConfig, str],
    mosquitto: Mosquitto,
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector, config, run = running
    inst = next(i for i in collector.instances if i.config.type == "zigbee2mqtt")
    plug, bulb = "desk/plug", "living/bulb"

    async def up(device: str, want: bool) -> None:
        async def check() -> bool:
            health = inst.devices.get(device)
            return health is not None and health.up is want

        await until(check, f"{device} {'up' if want else 'down'}")

    async def subscribed() -> bool:
        return inst.connected  # connect() subscribes: a state published before it is lost

    caplog.set_level(logging.INFO, logger="sentio.collector.devices")
    await until(subscribed, "the Zigbee2MQTT entry subscribed")
    await publish(mosquitto, (f"{run}/{plug}", {"state": "ON", "power": 5}))
    await publish(mosquitto, (f"{run}/{bulb}", {"state": "OFF", "brightness": 10}))
    await up(plug, True)
    await up(bulb, True)
    for _ in range(2):  # offline twice, and a reading while offline: still one down record
        await publish(mosquitto, (f"{run}/{plug}/availability", {"state": "offline"}))
    await publish(mosquitto, (f"{run}/{plug}", {"state": "ON", "power": 5}))
    await up(plug, False)
    await publish(mosquitto, (f"{run}/{plug}/availability", {"state": "online"}))
    await up(plug, True)
    assert _downs(caplog.records, plug) == (1, 1)

    await publish(mosquitto, (f"{run}/bridge/state", {"state": "offline"}))
    await up(bulb, False)
    await up(plug, False)
    await up("bridge", False)
    await publish(mosquitto, (f"{run}/bridge/state", {"state": "online"}))
    await up(bulb, True)
    assert _downs(caplog.records, bulb) == (1, 1)

    base = config.query_url()
    async with aiohttp.ClientSession() as session:

        async def labelled() -> bool:
            selector = (
                f'sentio_collector_device_up{{instance="{run}-z2m", connector="zigbee2mqtt"}}'
            )
            return len(await promql(session, base, selector)) >= 2

        await until(labelled, "the collector's own metrics labelled with their connector")
