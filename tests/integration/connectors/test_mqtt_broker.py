"""The generic MQTT connector against a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from sentio.connectors.contract import Event, Reading, Sample, Severity
from sentio.connectors.mqtt import MqttConfig, MqttConnectionError, MqttConnector

from .conftest import Mosquitto, take

DEADLINE_S = 15.0
SECRET = "pw-that-must-never-leak"


def config(host: str, port: int, prefix: str) -> MqttConfig:
    return MqttConfig.model_validate(
        {
            "broker": {
                "host": host,
                "port": port,
                "username": "sentio",
                "password": SECRET,
                "allow_insecure_credentials": True,
                "qos": 1,
            },
            "subscriptions": [
                {"topic": f"{prefix}/{{device}}/{{metric}}", "unit": "Cel"},
                {
                    "topic": f"{prefix}-json/{{device}}",
                    "payload": "json",
                    "fields": [
                        {"path": "sensors.temp", "metric": "temperature", "unit": "Cel"},
                        {"path": "values[1]", "metric": "second", "unit": "1"},
                    ],
                },
            ],
        }
    )


async def publish(broker: Mosquitto, *messages: tuple[str, bytes]) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


@pytest.fixture
def prefix() -> str:
    return f"t-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def connector(broker: Mosquitto, prefix: str) -> AsyncIterator[MqttConnector]:
    conn = MqttConnector(config(broker.host, broker.port, prefix))
    await conn.connect()
    try:
        yield conn
    finally:
        await conn.close()


def strip(sample: Sample) -> tuple[Any, ...]:
    """Return a sample without its timestamp, for exact comparison."""
    if isinstance(sample, Reading):
        return ("reading", sample.device, sample.metric, sample.value, sample.unit)
    return ("event", sample.device, sample.severity, sample.body)


async def test_number_and_json_payloads_become_readings(
    broker: Mosquitto, connector: MqttConnector, prefix: str
) -> None:
    await publish(
        broker,
        (f"{prefix}/oven-1/temperature", b"21.5"),
        (f"{prefix}-json/meter-2", b'{"sensors": {"temp": 19}, "values": [1, 2.5, 3]}'),
        (f"{prefix}/oven-1/setpoint", b" -4e1 "),
    )
    async with contextlib.aclosing(connector.read()) as stream:
        samples = await take(stream, 4)
    assert [strip(s) for s in samples] == [
        ("reading", "oven-1", "temperature", 21.5, "Cel"),
        ("reading", "meter-2", "temperature", 19.0, "Cel"),
        ("reading", "meter-2", "second", 2.5, "1"),
        ("reading", "oven-1", "setpoint", -40.0, "Cel"),
    ]
    first = samples[0]
    assert isinstance(first, Reading)
    assert first.attributes == {"topic": f"{prefix}/oven-1/temperature"}


async def test_garbage_payload_warns_and_the_next_message_flows(
    broker: Mosquitto, connector: MqttConnector, prefix: str
) -> None:
    await publish(
        broker,
        (f"{prefix}/oven-1/temperature", b"hot!"),
        (f"{prefix}-json/meter-2", b"{not json"),
        (f"{prefix}-json/meter-2", b'{"sensors": {"temp": "warm"}, "values": []}'),
        (f"{prefix}/oven-1/temperature", b"22"),
    )
    async with contextlib.aclosing(connector.read()) as stream:
        samples = await take(stream, 5)
    assert [s.severity for s in samples[:4] if isinstance(s, Event)] == [Severity.WARN] * 4
    bodies = [s.body for s in samples[:4] if isinstance(s, Event)]
    assert bodies[0] == f"{prefix}/oven-1/temperature: payload is not a number: 'hot!'"
    assert bodies[1].startswith(f"{prefix}-json/meter-2: payload is not valid JSON (")
    assert bodies[2] == f'{prefix}-json/meter-2: sensors.temp is not a number: "warm"'
    assert bodies[3] == f"{prefix}-json/meter-2: values[1]: no item values[1]"
    assert strip(samples[4]) == ("reading", "oven-1", "temperature", 22.0, "Cel")


async def test_a_lost_broker_raises_and_a_new_connect_resubscribes(
    broker: Mosquitto, connector: MqttConnector, prefix: str
) -> None:
    topic = f"{prefix}/boiler/temperature"
    async with contextlib.aclosing(connector.read()) as stream:
        await publish(broker, (topic, b"1"))
        assert [strip(s) for s in await take(stream, 1)] == [
            ("reading", "boiler", "temperature", 1.0, "Cel")
        ]
        broker.stop()
        with pytest.raises(MqttConnectionError) as lost:
            await take(stream, 1)
    label = f"{broker.host}:{broker.port}"
    assert str(lost.value).startswith(f"connection to broker {label} lost: ")
    assert SECRET not in str(lost.value)
    broker.start()
    await connector.connect()
    async with contextlib.aclosing(connector.read()) as stream:
        await publish(broker, (topic, b"2"))
        after = await take(stream, 1)
    assert [strip(s) for s in after] == [("reading", "boiler", "temperature", 2.0, "Cel")]


async def test_close_ends_read_from_another_task(connector: MqttConnector) -> None:
    async def drain() -> list[Sample]:
        return [s async for s in connector.read()]

    task = asyncio.create_task(drain())
    await asyncio.sleep(0)
    await connector.close()
    assert await asyncio.wait_for(task, DEADLINE_S) == []
    await connector.close()


async def test_connect_to_a_dead_port_raises(prefix: str) -> None:
    conn = MqttConnector(config("127.0.0.1", 1, prefix))
    with pytest.raises(MqttConnectionError, match=r"cannot connect to 127\.0\.0\.1:1: ") as info:
        await conn.connect()
    assert SECRET not in str(info.value)
    await conn.close()
