"""The OPC-UA connector in mode subscribe, driven as the runtime drives a push connector."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from asyncua import ua
from sentio.connectors.contract import Event, Quality, Reading, Sample, Severity
from sentio.connectors.opcua import OpcuaConnectionError, OpcuaConnector, OpcuaError

from .opcua_server import (
    DEADLINE_S,
    URI,
    OpcuaServer,
    boiler,
    make_connector,
    nsu,
    opcua_server,
    readings,
)

__all__ = ["make_connector", "opcua_server"]

FAST = {"publishing_interval_s": 0.05, "sampling_interval_s": 0.0}
Item = Sample | OpcuaError


class Driver:
    """Run a push connector as the runtime does: connect, read until it raises, back off, again."""

    def __init__(self, connector: OpcuaConnector) -> None:
        self.connector = connector
        self.items: list[Item] = []
        self._arrived = asyncio.Event()
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self.connector.connect()
                async for sample in self.connector.read():
                    self._add(sample)
                return
            except OpcuaError as exc:
                self._add(exc)
                await asyncio.sleep(0.1)

    def _add(self, item: Item) -> None:
        self.items.append(item)
        self._arrived.set()

    async def wait_for(self, done: Callable[[Item], bool], since: int = 0) -> Item:
        """Return the first item from ``since`` on that ``done`` accepts; fail at the deadline."""
        start = since
        deadline = time.monotonic() + DEADLINE_S
        while True:
            for item in self.items[start:]:
                if done(item):
                    return item
            start = len(self.items)
            self._arrived.clear()
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"nothing matched in time; got {self.items}"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def stop(self) -> None:
        """Close the connector; the driver must end promptly, as ``read`` ends."""
        await self.connector.close()
        await asyncio.wait_for(self.task, 2.0)


@pytest.fixture
async def drive() -> AsyncIterator[Callable[[OpcuaConnector], Driver]]:
    """Drive connectors for one test, stopping each at its end."""
    drivers: list[Driver] = []

    def make(connector: OpcuaConnector) -> Driver:
        drivers.append(Driver(connector))
        return drivers[-1]

    try:
        yield make
    finally:
        for driver in drivers:
            if not driver.task.done():
                driver.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await driver.task
            await driver.connector.close()


def value_of(metric: str, value: float) -> Callable[[Item], bool]:
    return lambda i: isinstance(i, Reading) and i.metric == metric and i.value == value


async def test_changes_arrive_and_the_deadband_holds_back_small_ones(
    opcua_server: OpcuaServer,
    make_connector: Callable[..., OpcuaConnector],
    drive: Callable[[OpcuaConnector], Driver],
) -> None:
    device = boiler({"temperature": nsu("temperature"), "pressure": nsu("pressure")})
    device["nodes"][0]["deadband"] = {"type": "absolute", "value": 1.0}
    connector = make_connector(
        opcua_server.endpoint, [device], mode="subscribe", subscription=FAST, timestamp="source"
    )
    assert connector.push
    assert connector.devices() == ()
    driver = drive(connector)
    await driver.wait_for(value_of("temperature", 21.5))
    await driver.wait_for(value_of("pressure", 1.25))

    temperature = opcua_server.node("temperature")
    await temperature.write_value(21.9)
    await temperature.write_value(23.0)
    arrived = await driver.wait_for(value_of("temperature", 23.0))
    assert not any(value_of("temperature", 21.9)(i) for i in driver.items)
    source = (await temperature.read_data_value()).SourceTimestamp
    assert isinstance(arrived, Reading)
    assert source is not None
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    source = source.replace(tzinfo=source.tzinfo or UTC)
    assert arrived.timestamp_ns == (source - epoch) // timedelta(microseconds=1) * 1000
    assert arrived.unit == "Cel"
    assert arrived.attributes["node_id"] == nsu("temperature")

    # no deadband on pressure: a small change arrives, and a bad status becomes the quality
    await opcua_server.node("pressure").write_value(1.26)
    await driver.wait_for(value_of("pressure", 1.26))
    await opcua_server.node("pressure").write_value(
        ua.DataValue(
            ua.Variant(9.5, ua.VariantType.Double),
            StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure),
        )
    )
    bad = await driver.wait_for(
        lambda i: isinstance(i, Reading) and i.metric == "pressure" and i.quality is Quality.BAD
    )
    assert isinstance(bad, Reading)
    assert isinstance(bad.value, float)
    assert math.isnan(bad.value)
    assert bad.attributes["status"] == "BadSensorFailure"
    assert not [i for i in driver.items if isinstance(i, BaseException)]
    await driver.stop()


async def test_server_restart_recreates_the_subscriptions(
    opcua_server: OpcuaServer,
    make_connector: Callable[..., OpcuaConnector],
    drive: Callable[[OpcuaConnector], Driver],
) -> None:
    connector = make_connector(
        opcua_server.endpoint,
        [
            boiler({"temperature": nsu("temperature")}),
            {
                "name": "pump-1",
                "nodes": [{"name": "speed", "path": "Objects/t:Line1/t:Pump1/t:Speed"}],
            },
        ],
        mode="subscribe",
        subscription=FAST,
        namespaces={"t": URI},
    )
    driver = drive(connector)
    await driver.wait_for(value_of("temperature", 21.5))
    await driver.wait_for(value_of("speed", 1450.0))
    old_index = opcua_server.index

    await opcua_server.stop()
    lost = await driver.wait_for(lambda i: isinstance(i, BaseException))
    assert isinstance(lost, OpcuaConnectionError)

    # the namespace index moves: changes arrive again only if nsu= and paths are resolved anew
    mark = len(driver.items)
    await opcua_server.start(extra_namespaces=("urn:sentio:shift",))
    assert opcua_server.index == old_index + 1
    await driver.wait_for(lambda i: isinstance(i, Reading) and i.metric == "speed", mark)
    assert connector.node_ids("boiler-1")[0].NamespaceIndex == opcua_server.index
    await opcua_server.node("temperature").write_value(30.5)
    await driver.wait_for(value_of("temperature", 30.5))
    await opcua_server.node("Pump1/Speed").write_value(1500.0)
    await driver.wait_for(value_of("speed", 1500.0))
    await driver.stop()


async def test_close_ends_read_promptly(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint, [boiler({"count": nsu("count")})], mode="subscribe"
    )
    await connector.connect()
    first = asyncio.Event()
    samples: list[Sample] = []

    async def consume() -> None:
        async for sample in connector.read():
            samples.append(sample)
            first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), DEADLINE_S)
    assert isinstance(samples[0], Reading)
    await connector.close()
    await asyncio.wait_for(task, 1.0)
    assert not connector.connected
    assert [s async for s in connector.read()] == []


async def test_device_and_node_failures_are_events(
    opcua_server: OpcuaServer,
    make_connector: Callable[..., OpcuaConnector],
    drive: Callable[[OpcuaConnector], Driver],
) -> None:
    connector = make_connector(
        opcua_server.endpoint,
        [
            boiler({"temperature": "nsu=urn:missing;s=Boiler.temperature"}, "ghost"),
            boiler({"count": nsu("count"), "missing": nsu("nothing-here"), "label": nsu("label")}),
        ],
        mode="subscribe",
        subscription=FAST,
    )
    driver = drive(connector)
    await driver.wait_for(value_of("count", 42))
    ghost = await driver.wait_for(lambda i: isinstance(i, Event) and i.device == "ghost")
    assert isinstance(ghost, Event)
    assert ghost.attributes["error"] == "namespace"
    monitor = await driver.wait_for(
        lambda i: isinstance(i, Event) and i.attributes.get("error") == "monitor"
    )
    assert isinstance(monitor, Event)
    assert monitor.attributes["metric"] == "missing"
    assert "BadNodeIdUnknown" in monitor.body
    label = await driver.wait_for(
        lambda i: isinstance(i, Event) and i.attributes.get("type") == "String"
    )
    assert isinstance(label, Event)
    assert label.severity is Severity.WARN
    assert set(readings(driver.items)) == {"count"}
    await driver.stop()
