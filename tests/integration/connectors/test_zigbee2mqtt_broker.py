"""The Zigbee2MQTT connector against a real Mosquitto broker."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from sentio.connectors.contract import Reading, Sample, Severity
from sentio.connectors.zigbee2mqtt import Zigbee2MqttConfig, Zigbee2MqttConnector

from .conftest import Mosquitto, take

DEADLINE_S = 15.0
DEVICES = [
    {"friendly_name": "Coordinator", "ieee_address": "0x00", "type": "Coordinator"},
    {
        "friendly_name": "kitchen/climate",
        "ieee_address": "0x00158d0001a2b3c4",
        "power_source": "Battery",
        "definition": {"model": "WSDCGQ11LM", "vendor": "Aqara"},
    },
]
META = {
    "ieee_address": "0x00158d0001a2b3c4",
    "model": "WSDCGQ11LM",
    "vendor": "Aqara",
    "power_source": "Battery",
}


async def publish(broker: Mosquitto, *messages: tuple[str, bytes], retain: bool = False) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1, retain=retain)


def strip(sample: Sample) -> tuple[Any, ...]:
    if isinstance(sample, Reading):
        return ("reading", sample.device, sample.metric, sample.value, sample.unit)
    return ("event", sample.device, sample.severity, sample.body)


@pytest.fixture
def base() -> str:
    return f"z2m-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def connector(broker: Mosquitto, base: str) -> AsyncIterator[Zigbee2MqttConnector]:
    await publish(broker, (f"{base}/bridge/devices", json.dumps(DEVICES).encode()), retain=True)
    conn = Zigbee2MqttConnector(
        Zigbee2MqttConfig.model_validate(
            {
                "broker": {"host": broker.host, "port": broker.port, "qos": 1},
                "base_topic": base,
                "exclude": ["*/ignored"],
            }
        )
    )
    await conn.connect()
    try:
        yield conn
    finally:
        await conn.close()
        await publish(broker, (f"{base}/bridge/devices", b""), retain=True)


async def test_states_availability_and_bridge_events(
    broker: Mosquitto, connector: Zigbee2MqttConnector, base: str
) -> None:
    await publish(
        broker,
        (f"{base}/kitchen/climate/set", b'{"temperature": 99}'),
        (f"{base}/kitchen/ignored", b'{"temperature": 5}'),
        (
            f"{base}/kitchen/climate",
            b'{"temperature": 21.3, "humidity": 48, "water_leak": false, "mode": "eco"}',
        ),
        (f"{base}/kitchen/climate/availability", b'{"state":"online"}'),
        (f"{base}/kitchen/climate/availability", b"online"),
        (f"{base}/kitchen/climate/availability", b"offline"),
        (
            f"{base}/bridge/event",
            b'{"type":"device_joined","data":{"friendly_name":"kitchen/climate",'
            b'"ieee_address":"0x00158d0001a2b3c4"}}',
        ),
        (f"{base}/kitchen/climate", b"garbage"),
        (f"{base}/kitchen/climate", b'{"battery": 97}'),
    )
    async with contextlib.aclosing(connector.read()) as stream:
        samples = await take(stream, 12)
    dev = "kitchen/climate"
    assert [strip(s) for s in samples] == [
        ("reading", dev, "temperature", 21.3, "Cel"),
        ("reading", dev, "humidity", 48.0, "%"),
        ("reading", dev, "water_leak", 0.0, "{bool}"),
        ("event", dev, Severity.INFO, "kitchen/climate: mode = eco"),
        ("reading", dev, "available", 1.0, "{bool}"),
        ("event", dev, Severity.INFO, "kitchen/climate is online"),
        ("reading", dev, "available", 1.0, "{bool}"),
        ("reading", dev, "available", 0.0, "{bool}"),
        ("event", dev, Severity.WARN, "kitchen/climate is offline"),
        (
            "event",
            dev,
            Severity.INFO,
            "bridge event device_joined: friendly_name=kitchen/climate, "
            "ieee_address=0x00158d0001a2b3c4",
        ),
        ("event", dev, Severity.WARN, f"{base}/kitchen/climate: expected a JSON object: 'garbage'"),
        ("reading", dev, "battery", 97.0, "%"),
    ]
    first = samples[0]
    assert isinstance(first, Reading)
    assert first.attributes == META
