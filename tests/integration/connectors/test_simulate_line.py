"""The simulated production line, served by a real asyncua server, read by real OPC-UA clients."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from asyncua import Client, ua
from asyncua.ua.uaerrors import BadNoCommunication
from sentio.connectors.contract import Quality, Reading
from sentio.connectors.opcua import OpcuaConfig, OpcuaConnector
from sentio.simulators.faults import Dead, Spike
from sentio.simulators.line import URI, Line, LineServer

from sentio.demo_plant import line_devices

DEADLINE_S = 15.0
PLAUSIBLE = {
    "Conveyor": {"Speed": (0.45, 0.55), "MotorCurrent": (5.5, 7.5), "Temperature": (38, 46)},
    "Press": {"Pressure": (150, 170), "MotorCurrent": (20, 24), "Temperature": (44, 52)},
    "Oven": {"Temperature": (175, 185), "MotorCurrent": (3.9, 4.5)},
}


async def until(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Return the first truthy result of ``check``, failing at the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not (result := await check()):
        assert loop.time() < deadline, f"{what} not seen within {DEADLINE_S}s"
        await asyncio.sleep(0.05)
    return result


@pytest.fixture
async def served() -> AsyncIterator[LineServer]:
    server = LineServer(Line(seed=1))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def client(served: LineServer) -> AsyncIterator[Client]:
    async with Client(served.endpoint, timeout=5) as opcua:
        yield opcua


async def node(client: Client, name: str) -> Any:
    index = await client.get_namespace_index(URI)
    return client.get_node(f"ns={index};s={name}")


async def test_port_zero_binds_a_free_port_and_endpoints_advertise_it(
    served: LineServer, client: Client
) -> None:
    assert served.port > 0
    assert served.endpoint == f"opc.tcp://127.0.0.1:{served.port}/sentio/line"
    endpoints = await client.get_endpoints()
    assert {e.EndpointUrl for e in endpoints} == {served.endpoint}
    assert await client.get_namespace_index(URI) == served.namespace_index


async def test_every_station_serves_plausible_values(client: Client) -> None:
    line = await node(client, "Line1")
    children = [(await c.read_browse_name()).Name for c in await line.get_children()]
    assert children == ["Conveyor", "Press", "Oven"]
    for station, ranges in PLAUSIBLE.items():
        for variable, (low, high) in ranges.items():
            value = await (await node(client, f"Line1.{station}.{variable}")).read_value()
            assert low < value < high, f"{station}.{variable} = {value}"
        state = await node(client, f"Line1.{station}.State")
        assert await state.read_value() == 1
        assert await state.read_data_type_as_variant_type() == ua.VariantType.Int32
        count = await node(client, f"Line1.{station}.PartCount")
        assert await count.read_value() == 0
        assert await count.read_data_type_as_variant_type() == ua.VariantType.UInt32


async def test_a_spike_shows_and_a_dead_station_reads_bad(
    served: LineServer, client: Client
) -> None:
    oven = served.line.station("Oven")
    temperature = await node(client, "Line1.Oven.Temperature")
    press = await node(client, "Line1.Press.Pressure")
    oven.inject(Spike("temperature", 60.0))
    served.line.advance(1.0)
    await served.update()
    assert await temperature.read_value() > 230.0
    oven.inject(Dead())
    await served.update()
    with pytest.raises(BadNoCommunication):
        await temperature.read_value()
    value = await temperature.read_data_value(raise_on_bad_status=False)
    assert value.StatusCode is not None and value.StatusCode.name == "BadNoCommunication"
    assert 150.0 < await press.read_value() < 170.0, "the other stations keep answering"
    oven.clear_faults()
    served.line.advance(1.0)
    await served.update()
    assert 175.0 < await temperature.read_value() < 185.0


async def test_the_ticker_advances_the_line() -> None:
    async with (
        LineServer(Line(seed=2), advance_every_s=0.05) as served,
        Client(served.endpoint, timeout=5) as client,
    ):
        temperature = await node(client, "Line1.Oven.Temperature")
        first = await temperature.read_data_value()

        async def changed() -> bool:
            now = await temperature.read_data_value()
            assert now.SourceTimestamp is not None and first.SourceTimestamp is not None
            return now.Value != first.Value and now.SourceTimestamp > first.SourceTimestamp

        await until(changed, "a new oven temperature")


async def test_the_opcua_connector_reads_the_line_by_namespace_uri(served: LineServer) -> None:
    config = OpcuaConfig.model_validate(
        {"endpoint": served.endpoint, "timeout_s": 5, "devices": line_devices(served.line)}
    )
    connector = OpcuaConnector(config)
    try:
        samples = [s async for s in connector.read()]
        readings = {(s.device, s.metric): s for s in samples if isinstance(s, Reading)}
        assert len(readings) == len(samples) == 3 + 3 + 2 + 3 * 2
        oven = readings["line1-oven", "temperature"]
        assert oven.unit == "Cel" and oven.quality is Quality.GOOD
        assert 175.0 < float(oven.value) < 185.0
        assert readings["line1-conveyor", "speed"].unit == "m/s"
        assert readings["line1-press", "state"].value == 1.0
        served.line.station("Oven").inject(Dead())
        await served.update()
        samples = [s async for s in connector.read()]
        readings = {(s.device, s.metric): s for s in samples if isinstance(s, Reading)}
        dead = readings["line1-oven", "temperature"]
        assert dead.quality is Quality.BAD and math.isnan(float(dead.value))
        assert dead.attributes["status"] == "BadNoCommunication"
        assert readings["line1-press", "pressure"].quality is Quality.GOOD
    finally:
        await connector.close()
