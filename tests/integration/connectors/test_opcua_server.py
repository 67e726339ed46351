"""The OPC-UA connector against a real in-process asyncua server on a free loopback port."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from asyncua import ua
from sentio.connectors.contract import DeviceSchedule, Event, Quality, Sample, Severity
from sentio.connectors.opcua import OpcuaConnector

from .opcua_server import (
    URI,
    VALUES,
    OpcuaServer,
    boiler,
    errors,
    free_port,
    make_connector,
    nsu,
    opcua_server,
    poll,
    poll_until,
    readings,
)

__all__ = ["make_connector", "opcua_server"]


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
    assert got["count"].unit == "1"  # as configured
    assert got["temperature"].attributes["node_id"] == node_ids["temperature"]
    source = (await opcua_server.node("temperature").read_data_value()).SourceTimestamp
    assert source is not None
    expected = (
        (source.replace(tzinfo=source.tzinfo or UTC) - datetime(1970, 1, 1, tzinfo=UTC))
        // (timedelta(microseconds=1))
        * 1000
    )
    # timestamp gather, the default: the time of the poll, not the value's last change
    assert abs(got["temperature"].timestamp_ns - time.time_ns()) < 5e9
    sourced = make_connector(opcua_server.endpoint, [boiler(node_ids)], timestamp="source")
    assert readings(await poll(sourced))["temperature"].timestamp_ns == expected
    kept = make_connector(opcua_server.endpoint, [boiler(node_ids)], source_timestamps=True)
    stamps = readings(await poll(kept))
    assert stamps["temperature_source_timestamp"].value == expected / 1e9
    assert stamps["temperature_source_timestamp"].unit == "s"

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


async def test_non_numeric_value_is_warned_of_once_and_skipped(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint, [boiler({"label": nsu("label"), "count": nsu("count")})]
    )
    samples = await poll(connector)
    assert not errors(samples)
    [event] = [s for s in samples if isinstance(s, Event)]
    assert event.severity is Severity.WARN
    assert event.attributes["type"] == "String"
    assert nsu("label") in event.body
    assert readings(samples)["count"].value == VALUES["count"]
    again = await poll(connector)
    assert [s for s in again if isinstance(s, Event)] == []
    assert readings(again)["count"].value == VALUES["count"]


async def test_unreachable_server_gives_an_event_and_never_raises(
    make_connector: Callable[..., OpcuaConnector],
) -> None:
    connector = make_connector(
        f"opc.tcp://127.0.0.1:{free_port()}/",
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
        allow_insecure_credentials=True,
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
    assert [e.body for e in back if isinstance(e, Event)] == [], "the runtime owns recovery"


async def poll_one(connector: OpcuaConnector, device: str) -> list[Sample]:
    return [s async for s in connector.poll(device)]


async def test_each_device_is_polled_on_its_own(
    opcua_server: OpcuaServer, make_connector: Callable[..., OpcuaConnector]
) -> None:
    connector = make_connector(
        opcua_server.endpoint,
        [
            {**boiler({"temperature": nsu("temperature")}), "poll_interval_s": 2},
            {**boiler({"pressure": nsu("pressure"), "count": nsu("count")}, "boiler-2")},
            {**boiler({"t": "nsu=urn:missing;i=1"}, "ghost"), "poll_interval_s": 0.5},
        ],
    )
    assert connector.devices() == (
        DeviceSchedule("boiler-1", 2.0),
        DeviceSchedule("boiler-2", 10.0),
        DeviceSchedule("ghost", 0.5),
    )
    first, second = await asyncio.gather(
        poll_one(connector, "boiler-1"), poll_one(connector, "boiler-2")
    )
    assert {(r.device, r.metric, r.value) for r in readings(first).values()} == {
        ("boiler-1", "temperature", VALUES["temperature"])
    }
    assert {(r.device, r.metric) for r in readings(second).values()} == {
        ("boiler-2", "pressure"),
        ("boiler-2", "count"),
    }
    assert not errors(first + second)
    [event] = await poll_one(connector, "ghost")
    assert isinstance(event, Event)
    assert (event.device, event.attributes["error"]) == ("ghost", "namespace")

    await opcua_server.node("temperature").write_value(24.0)
    again = await poll_one(connector, "boiler-1")
    assert readings(again)["temperature"].value == 24.0
    assert connector.connected
