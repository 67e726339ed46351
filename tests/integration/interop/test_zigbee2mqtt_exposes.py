"""The Zigbee2MQTT connector against real device exposes, published into a real Mosquitto.

The ``bridge/devices`` document is generated at install time by zigbee-herdsman-converters from
its own definitions of five common devices (``tests/interop/exposes.mjs``); the state messages
are what those devices' converters publish.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiomqtt
import pytest
from sentio.connectors.contract import BOOL, STATE, Event, Reading, Sample, Severity
from sentio.connectors.units import to_ucum
from sentio.connectors.zigbee2mqtt import Zigbee2MqttConfig, Zigbee2MqttConnector
from sentio.connectors.zigbee2mqtt.exposes import fields

from tests.integration.connectors.conftest import Mosquitto

DEADLINE_S = 15.0
MODELS = {"WSDCGQ11LM", "9290012607", "E2206", "SRTS-A01", "9290012573A"}


def entries(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["definition"]["model"]: e for e in document["devices"] if "definition" in e}


def state_from_exposes(exposes: list[dict[str, Any]], turn: int) -> dict[str, Any]:
    """Return a state message with a value for every field the exposes publish."""
    state: dict[str, Any] = {}
    for expose in exposes:
        kind, prop = expose.get("type"), expose.get("property")
        if kind in {"switch", "light", "lock", "climate", "fan", "cover"}:
            state.update(state_from_exposes(expose["features"], turn))
        elif kind == "composite":  # a bulb's colour is two composites of one property
            state.setdefault(prop, {}).update(state_from_exposes(expose["features"], turn))
        elif not expose.get("access", 1) & 1:
            continue
        elif kind == "numeric":
            state[prop] = 10 + turn
        elif kind == "binary":
            state[prop] = expose["value_on"] if turn % 2 else expose["value_off"]
        elif kind == "enum":
            state[prop] = expose["values"][turn % len(expose["values"])]
        elif kind == "text":
            state[prop] = f"text {turn}"
    return state


async def publish(broker: Mosquitto, *messages: tuple[str, Any], retain: bool = False) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for topic, payload in messages:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            await client.publish(topic, body, qos=1, retain=retain)


async def collect(stream: AsyncIterator[Sample], done: Any) -> list[Sample]:
    """Take samples until ``done(samples)`` holds, failing at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    samples: list[Sample] = []
    while not done(samples):
        samples.append(await asyncio.wait_for(anext(stream), deadline - loop.time()))
    return samples


@pytest.fixture
def base() -> str:
    return f"z2m-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def connector(
    mosquitto: Mosquitto, base: str, bridge_devices: dict[str, Any]
) -> AsyncIterator[Zigbee2MqttConnector]:
    devices = json.dumps(bridge_devices["devices"]).encode()
    await publish(mosquitto, (f"{base}/bridge/devices", devices), retain=True)
    config = {
        "broker": {"host": mosquitto.host, "port": mosquitto.port, "qos": 1},
        "base_topic": base,
    }
    conn = Zigbee2MqttConnector(Zigbee2MqttConfig.model_validate(config))
    await conn.connect()
    try:
        yield conn
    finally:
        await conn.close()
        await publish(mosquitto, (f"{base}/bridge/devices", b""), retain=True)


def test_the_generated_document_holds_the_five_devices(bridge_devices: dict[str, Any]) -> None:
    assert bridge_devices["converters"] == "26.112.0"
    assert set(entries(bridge_devices)) == MODELS


async def test_every_exposed_field_is_read_as_its_exposes_say(
    mosquitto: Mosquitto,
    connector: Zigbee2MqttConnector,
    base: str,
    bridge_devices: dict[str, Any],
) -> None:
    devices = entries(bridge_devices)
    messages = []
    expected: dict[tuple[str, str], tuple[str, Any]] = {}
    for entry in devices.values():
        name, exposes = entry["friendly_name"], entry["definition"]["exposes"]
        state = state_from_exposes(exposes, 1)
        messages.append((f"{base}/{name}", state))
        for field, spec in fields(exposes).items():
            expected[name, field] = (spec.kind, spec)
    names = {e["friendly_name"] for e in devices.values()}
    started = time.time_ns()
    await publish(mosquitto, *messages, (f"{base}/{sorted(names)[0]}/availability", b"online"))
    async with contextlib.aclosing(connector.read()) as stream:
        samples = await collect(
            stream, lambda got: any(isinstance(s, Reading) and s.metric == "available" for s in got)
        )
    readings = [s for s in samples if isinstance(s, Reading) and s.metric != "available"]
    events = [s for s in samples if isinstance(s, Event)]
    assert all(started <= s.timestamp_ns <= time.time_ns() for s in readings)
    seen: dict[tuple[str, str], list[Reading]] = {}
    for reading in readings:
        seen.setdefault((reading.device, reading.metric), []).append(reading)
    logged = {(e.device, e.attributes["field"]) for e in events if "field" in e.attributes}
    for (device, field), (kind, spec) in expected.items():
        got = seen.get((device, field), [])
        if kind == "numeric":
            assert len(got) == 1, (device, field, got)
            [reading] = got
            assert reading.value == 11.0
            assert reading.unit == spec.unit, (device, field)
        elif kind == "binary":
            [reading] = got
            assert (reading.value, reading.unit) == (1.0, BOOL), (device, field)
        elif kind == "enum":
            assert sorted(r.attributes["state"] for r in got) == sorted(spec.values)
            assert sum(r.value for r in got) == 1.0 and {r.unit for r in got} == {STATE}
        else:
            assert (device, field) in logged, (device, field)
    # the cases of the issue, by name
    plug = {r.metric: r for r in readings if r.device == "desk/plug"}
    assert plug["voltage"].unit == "V"
    assert plug["energy"].unit == "kW.h" == to_ucum("kWh")
    assert plug["state"].unit == BOOL and plug["child_lock"].unit == BOOL
    motion = {r.metric: r for r in readings if r.device == "hall/motion"}
    assert motion["occupancy_timeout"].unit == "s"
    bulb = {r.metric: r for r in readings if r.device == "living/bulb"}
    assert bulb["color_temp"].unit == "{mired}"
    thermostat = {r.metric: r for r in readings if r.device == "office/thermostat"}
    assert thermostat["occupied_heating_setpoint"].unit == "Cel"
    assert thermostat["local_temperature"].unit == "Cel"
    climate = {r.metric: r for r in readings if r.device == "climate"}
    assert climate["voltage"].unit == "mV"  # a battery's, as its exposes say


async def test_switching_strings_on_change_and_availability(
    mosquitto: Mosquitto,
    connector: Zigbee2MqttConnector,
    base: str,
    bridge_devices: dict[str, Any],
) -> None:
    def on(samples: list[Sample], metric: str) -> list[Reading]:
        return [s for s in samples if isinstance(s, Reading) and s.metric == metric]

    plug, thermostat = "desk/plug", "office/thermostat"
    state = {"state": "ON", "child_lock": "LOCK", "power_on_behavior": "previous", "power": 5}
    heating = {"system_mode": "heat", "preset": "auto", "schedule_settings": "mon,6:00,21"}
    await publish(
        mosquitto,
        (f"{base}/{plug}", state),
        (f"{base}/{thermostat}", heating),
        (f"{base}/{thermostat}", heating),  # the same again: its string is not logged again
        (f"{base}/{plug}", {**state, "state": "OFF"}),
        (f"{base}/{plug}/availability", {"state": "offline"}),
        (f"{base}/bridge/state", {"state": "offline"}),
        (f"{base}/bridge/state", {"state": "online"}),
    )
    async with contextlib.aclosing(connector.read()) as stream:
        samples = await collect(
            stream,
            lambda got: any(
                isinstance(s, Event) and s.device == thermostat and s.available for s in got
            ),
        )
    assert [r.value for r in on(samples, "state")] == [1.0, 0.0]
    assert {r.attributes["state"]: r.value for r in on(samples, "system_mode")[:2]} == {
        "off": 0.0,
        "heat": 1.0,
    }
    modes = {r.attributes["state"]: r.value for r in on(samples, "power_on_behavior")[:4]}
    assert modes == {"off": 0.0, "on": 0.0, "toggle": 0.0, "previous": 1.0}
    texts = [s for s in samples if isinstance(s, Event) and "field" in s.attributes]
    assert [(e.device, e.attributes["field"]) for e in texts] == [(thermostat, "schedule_settings")]
    health = [
        (s.device, s.available) for s in samples if isinstance(s, Event) and s.available is not None
    ]
    # the plug is offline on its own, so the bridge coming back does not bring it back
    assert health[0] == (plug, False)
    assert health[1] == ("bridge", False)
    assert ("bridge", True) in health
    assert (plug, True) not in health
    assert (thermostat, False) in health and (thermostat, True) in health
    offline = [
        s for s in samples if isinstance(s, Event) and s.device == plug and s.available is False
    ]
    assert offline[0].severity is Severity.WARN


async def test_a_broker_restart_ends_the_stream_and_a_reconnect_reads_again(
    mosquitto: Mosquitto, connector: Zigbee2MqttConnector, base: str
) -> None:
    await publish(mosquitto, (f"{base}/climate", {"temperature": 20.5}))
    async with contextlib.aclosing(connector.read()) as stream:
        [first] = await collect(stream, lambda got: len(got) == 1)
        assert isinstance(first, Reading) and first.value == 20.5 and first.unit == "Cel"
        mosquitto.restart()
        with pytest.raises(Exception, match=r"(?i)connection|broker|lost"):
            await collect(stream, lambda got: False)
    await connector.close()
    await connector.connect()
    await publish(mosquitto, (f"{base}/climate", {"temperature": 20.75}))
    async with contextlib.aclosing(connector.read()) as stream:
        again = await collect(stream, lambda got: any(isinstance(s, Reading) for s in got))
    assert [s.value for s in again if isinstance(s, Reading)] == [20.75]
