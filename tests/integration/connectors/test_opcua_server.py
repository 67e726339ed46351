"""The OPC-UA connector against a real in-process asyncua server on a free loopback port."""

from __future__ import annotations

import asyncio
import math
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asyncua import Node, Server, ua
from sentio.connectors.contract import Event, Quality, Reading, Sample, Severity
from sentio.connectors.opcua import OpcuaConfig, OpcuaConnector

URI = "urn:sentio:test"
DEADLINE_S = 15.0
VALUES: dict[str, float | int | bool] = {
    "temperature": 21.5,
    "pressure": 1.25,
    "count": 42,
    "running": True,
}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class OpcuaServer:
    """An asyncua server on a fixed port; restartable, optionally with a shifted namespace index."""

    port: int
    server: Server | None = None
    index: int = 0
    variables: dict[str, Node] | None = None

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/sentio/"

    async def start(self, extra_namespaces: tuple[str, ...] = ()) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        for uri in extra_namespaces:
            await server.register_namespace(uri)
        self.index = await server.register_namespace(URI)
        boiler = await server.nodes.objects.add_object(self.index, "Boiler")
        self.variables = {}
        for name, value in VALUES.items():
            node_id = ua.NodeId(f"Boiler.{name}", self.index, ua.NodeIdType.String)
            self.variables[name] = await boiler.add_variable(node_id, name, value)
        self.variables["numeric"] = await boiler.add_variable(
            ua.NodeId(5001, self.index, ua.NodeIdType.Numeric), "numeric", 7.5
        )
        self.variables["label"] = await boiler.add_variable(
            ua.NodeId("Boiler.label", self.index, ua.NodeIdType.String), "label", "hello"
        )
        await server.start()
        self.server = server

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            await server.stop()

    def node(self, name: str) -> Node:
        assert self.variables is not None
        return self.variables[name]


@pytest.fixture
async def opcua_server() -> AsyncIterator[OpcuaServer]:
    server = OpcuaServer(_free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def make_connector() -> AsyncIterator[Callable[..., OpcuaConnector]]:
    made: list[OpcuaConnector] = []

    def make(endpoint: str, devices: list[dict[str, Any]], **extra: Any) -> OpcuaConnector:
        config = OpcuaConfig.model_validate(
            {"endpoint": endpoint, "timeout_s": 2.0, "devices": devices, **extra}
        )
        connector = OpcuaConnector(config)
        made.append(connector)
        return connector

    try:
        yield make
    finally:
        for connector in made:
            await connector.close()


def boiler(node_ids: dict[str, str], name: str = "boiler-1") -> dict[str, Any]:
    units = {"temperature": "Cel", "pressure": "bar"}
    return {
        "name": name,
        "nodes": [
            {"name": metric, "node_id": node_id, "unit": units.get(metric, "1")}
            for metric, node_id in node_ids.items()
        ],
    }


def nsu(name: str) -> str:
    return f"nsu={URI};s=Boiler.{name}"


async def poll(connector: OpcuaConnector) -> list[Sample]:
    return [s async for s in connector.read()]


def readings(samples: list[Sample]) -> dict[str, Reading]:
    return {s.metric: s for s in samples if isinstance(s, Reading)}


def errors(samples: list[Sample]) -> list[Event]:
    return [s for s in samples if isinstance(s, Event) and s.severity is Severity.ERROR]


async def poll_until(
    connector: OpcuaConnector, done: Callable[[list[Sample]], bool]
) -> list[Sample]:
    """Poll until ``done`` holds for one poll's samples, failing at the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        samples = await poll(connector)
        if done(samples):
            return samples
        assert time.monotonic() < deadline, f"condition not met in time; last poll: {samples}"
        await asyncio.sleep(0.05)


async def test_readings_equal_server_values(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    index = opcua_server.index
    node_ids = {name: f"ns={index};s=Boiler.{name}" for name in VALUES}
    node_ids["numeric"] = f"ns={index};i=5001"
    connector = make_connector(opcua_server.endpoint, [boiler(node_ids)])
    samples = await poll(connector)
    got = readings(samples)
    assert not errors(samples)
    assert set(got) == {*VALUES, "numeric"}
    for name, value in VALUES.items():
        assert got[name].value == value, name
        assert got[name].quality is Quality.GOOD
        assert got[name].device == "boiler-1"
    assert got["running"].value is True
    assert got["numeric"].value == 7.5
    assert got["temperature"].unit == "Cel"
    assert got["count"].unit == "1"
    assert got["temperature"].attributes["node_id"] == node_ids["temperature"]
    source = (await opcua_server.node("temperature").read_data_value()).SourceTimestamp
    assert source is not None
    expected = (
        (source.replace(tzinfo=source.tzinfo or UTC) - datetime(1970, 1, 1, tzinfo=UTC))
        // (timedelta(microseconds=1))
        * 1000
    )
    assert got["temperature"].timestamp_ns == expected

    await opcua_server.node("temperature").write_value(23.0)
    assert readings(await poll(connector))["temperature"].value == 23.0


async def test_nsu_node_id_resolves(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint,
        [boiler({"temperature": nsu("temperature"), "numeric": f"nsu={URI};i=5001"})],
    )
    got = readings(await poll(connector))
    assert got["temperature"].value == VALUES["temperature"]
    assert got["numeric"].value == 7.5
    assert connector.node_ids("boiler-1")[0] == ua.NodeId(
        "Boiler.temperature", opcua_server.index, ua.NodeIdType.String
    )


async def test_unknown_namespace_gives_an_event_for_that_device_only(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint,
        [
            boiler({"temperature": "nsu=urn:missing;s=Boiler.temperature"}, "ghost"),
            boiler({"temperature": nsu("temperature")}),
        ],
    )
    samples = await poll(connector)
    [event] = errors(samples)
    assert event.device == "ghost"
    assert event.attributes["error"] == "namespace"
    assert "urn:missing" in event.body
    assert readings(samples)["temperature"].device == "boiler-1"


async def test_bad_and_uncertain_statuses_map_to_quality(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    await opcua_server.node("pressure").write_value(
        ua.DataValue(
            ua.Variant(9.5, ua.VariantType.Double),
            StatusCode=ua.StatusCode(ua.StatusCodes.BadSensorFailure),
        )
    )
    await opcua_server.node("temperature").write_value(
        ua.DataValue(
            ua.Variant(20.0, ua.VariantType.Double),
            StatusCode=ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue),
        )
    )
    connector = make_connector(
        opcua_server.endpoint,
        [
            boiler(
                {
                    "temperature": nsu("temperature"),
                    "pressure": nsu("pressure"),
                    "missing": nsu("nothing-here"),
                    "count": nsu("count"),
                }
            )
        ],
    )
    samples = await poll(connector)
    got = readings(samples)
    assert not errors(samples)
    assert got["pressure"].quality is Quality.BAD
    assert got["pressure"].attributes["status"] == "BadSensorFailure"
    assert got["temperature"].quality is Quality.UNCERTAIN
    assert got["temperature"].value == 20.0
    assert got["missing"].quality is Quality.BAD
    assert got["missing"].attributes["status"] == "BadNodeIdUnknown"
    assert isinstance(got["missing"].value, float)
    assert math.isnan(got["missing"].value)
    assert got["count"].quality is Quality.GOOD


async def test_non_numeric_value_gives_an_event(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint, [boiler({"label": nsu("label"), "count": nsu("count")})]
    )
    samples = await poll(connector)
    [event] = errors(samples)
    assert event.attributes["error"] == "not_numeric"
    assert readings(samples)["count"].value == VALUES["count"]


async def test_unreachable_server_gives_an_event_and_never_raises(
    make_connector: Callable[..., OpcuaConnector],
) -> None:
    connector = make_connector(
        f"opc.tcp://127.0.0.1:{_free_port()}/",
        [boiler({"temperature": nsu("temperature")}), boiler({"t": "ns=2;i=1"}, "other")],
    )
    samples = await poll(connector)
    assert [(e.device, e.attributes["error"]) for e in errors(samples)] == [
        ("boiler-1", "connection"),
        ("other", "connection"),
    ]
    assert not readings(samples)
    assert not connector.connected


async def test_reconnects_after_server_restart(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint,
        [boiler({"temperature": nsu("temperature"), "pressure": nsu("pressure")})],
        username="sentio",
        password="s3cret-never-logged",
    )
    first = readings(await poll(connector))
    assert first["temperature"].value == VALUES["temperature"]
    old_index = opcua_server.index

    await opcua_server.stop()
    down = await poll_until(connector, lambda s: bool(errors(s)))
    [event] = errors(down)
    assert event.device == "boiler-1"
    assert event.attributes["error"] in {"connection", "timeout"}
    assert "s3cret" not in event.body
    assert not readings(down)

    # the namespace index moves on restart: readings come back only if nsu= is resolved again
    await opcua_server.start(extra_namespaces=("urn:sentio:shift",))
    assert opcua_server.index == old_index + 1
    await opcua_server.node("temperature").write_value(30.5)
    back = await poll_until(connector, lambda s: "temperature" in readings(s))
    assert readings(back)["temperature"].value == 30.5
    assert readings(back)["pressure"].value == VALUES["pressure"]
    assert [e.body for e in back if isinstance(e, Event)] == [
        f"boiler-1: recovered ({opcua_server.endpoint})"
    ]
