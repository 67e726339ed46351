"""Simulated Zigbee sensors on a real Mosquitto, read back by the zigbee2mqtt connector."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import pytest
from sentio.connectors.contract import Event, Reading, Sample, Severity
from sentio.connectors.zigbee2mqtt import Zigbee2MqttConfig, Zigbee2MqttConnector
from sentio.simulators.faults import Dead
from sentio.simulators.mosquitto import Mosquitto as ChildMosquitto
from sentio.simulators.mosquitto import find_mosquitto
from sentio.simulators.zigbee import ZigbeePublisher, ZigbeePublishError, sensors

from tests.conftest import free_port

from .conftest import Mosquitto

DEADLINE_S = 15.0


@pytest.fixture
def base() -> str:
    return f"z2m-sim-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def connector(broker: Mosquitto, base: str) -> AsyncIterator[Zigbee2MqttConnector]:
    config = Zigbee2MqttConfig.model_validate(
        {"broker": {"host": broker.host, "port": broker.port, "qos": 1}, "base_topic": base}
    )
    conn = Zigbee2MqttConnector(config)
    await conn.connect()
    try:
        yield conn
    finally:
        await conn.close()


async def collect(
    stream: AsyncIterator[Sample], done: Callable[[list[Sample]], bool]
) -> list[Sample]:
    """Take samples until ``done`` holds for all taken so far, failing at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    samples: list[Sample] = []
    while not done(samples):
        samples.append(await asyncio.wait_for(anext(stream), deadline - loop.time()))
    return samples


def metrics(samples: list[Sample], device: str) -> dict[str, Reading]:
    return {s.metric: s for s in samples if isinstance(s, Reading) and s.device == device}


def events(samples: list[Sample], device: str) -> list[str]:
    return [s.body for s in samples if isinstance(s, Event) and s.device == device]


async def retained(broker: Mosquitto, topic: str) -> bytes:
    """Return the retained payload of ``topic``, failing at the deadline."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(DEADLINE_S):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                return message.payload
    raise AssertionError(f"nothing retained on {topic}")


async def test_the_connector_decodes_states_metadata_and_availability(
    broker: Mosquitto, connector: Zigbee2MqttConnector, base: str
) -> None:
    climate, contact, occupancy = sensors(3, seed=4)
    publisher = ZigbeePublisher(
        [climate, contact, occupancy], host=broker.host, port=broker.port, base_topic=base
    )
    await publisher.start()
    try:
        async with contextlib.aclosing(connector.read()) as stream:
            wanted = {"temperature", "humidity", "pressure", "battery", "linkquality", "voltage"}
            samples = await collect(
                stream,
                lambda got: (
                    wanted <= set(metrics(got, "climate-1"))
                    and "occupancy" in metrics(got, "occupancy-3")
                ),
            )
            got = metrics(samples, "climate-1")
            assert got["available"].value == 1.0
            assert 15.0 < float(got["temperature"].value) < 28.0
            assert got["temperature"].unit == "Cel" and got["battery"].unit == "%"
            assert got["battery"].value == round(climate.battery)
            assert got["temperature"].attributes == {
                "ieee_address": climate.ieee_address,
                "model": "WSDCGQ11LM",
                "vendor": "Aqara",
                "power_source": "Battery",
            }
            assert events(samples, "climate-1") == ["climate-1 is online"]
            assert metrics(samples, "contact-2")["contact"].value == 1.0
            assert metrics(samples, "occupancy-3")["illuminance"].unit == "lx"

            contact.inject(Dead())
            await publisher.publish()
            later = await collect(stream, lambda got: bool(events(got, "contact-2")))
            assert events(later, "contact-2") == ["contact-2 is offline"]
            offline = [s for s in later if isinstance(s, Event) and s.device == "contact-2"]
            assert offline[0].severity is Severity.WARN
            assert metrics(later, "contact-2") == {
                "available": metrics(later, "contact-2")["available"]
            }
            assert metrics(later, "contact-2")["available"].value == 0.0
    finally:
        await publisher.stop()
    assert json.loads(await retained(broker, f"{base}/contact-2/availability")) == {
        "state": "offline"
    }
    assert json.loads(await retained(broker, f"{base}/bridge/state")) == {"state": "offline"}


async def test_the_ticker_publishes_changing_states(broker: Mosquitto, base: str) -> None:
    (climate,) = sensors(1, seed=5)
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(f"{base}/climate-1", qos=1)
        async with ZigbeePublisher(
            [climate], host=broker.host, port=broker.port, base_topic=base, advance_every_s=0.05
        ):
            payloads: list[dict[str, float]] = []
            async with asyncio.timeout(DEADLINE_S):
                async for message in client.messages:
                    assert isinstance(message.payload, bytes)
                    payloads.append(json.loads(message.payload))
                    if len(payloads) == 5:
                        break
    assert len({p["temperature"] for p in payloads}) > 1
    assert climate.elapsed_s > 0.0


async def test_the_publisher_republishes_after_the_broker_restarts(
    broker: Mosquitto, base: str
) -> None:
    sensor = sensors(1)
    async with ZigbeePublisher(
        sensor, host=broker.host, port=broker.port, base_topic=base, advance_every_s=0.05
    ):
        broker.restart()  # without persistence: every retained message is gone
        devices = json.loads(await retained(broker, f"{base}/bridge/devices"))
    assert [d["friendly_name"] for d in devices] == ["Coordinator", "climate-1"]


async def test_an_unreachable_broker_fails_the_start() -> None:
    publisher = ZigbeePublisher(sensors(1), port=free_port(), timeout_s=2.0)
    with pytest.raises(ZigbeePublishError, match=r"cannot publish to 127\.0\.0\.1"):
        await publisher.start()
    await publisher.stop()


async def test_the_demo_runs_its_own_mosquitto(tmp_path: Path) -> None:
    executable = find_mosquitto()
    assert executable is not None, "mosquitto is installed here"
    child = ChildMosquitto(executable, tmp_path / "mosquitto")
    await child.start()
    try:
        assert child.port > 0
        async with aiomqtt.Client(child.host, child.port) as client:
            await client.publish("ping", b"1", qos=1)
    finally:
        await child.stop()
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(child.host, child.port, timeout=2):
            pass
    await child.stop()
