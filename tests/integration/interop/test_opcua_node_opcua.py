"""The OPC-UA connector against node-opcua, an OPC-UA server from another stack."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sentio.connectors.contract import Event, Reading, Sample, Severity
from sentio.connectors.opcua import OpcuaConfig, OpcuaConnector
from sentio.connectors.opcua.security import client_certificate_file

from .conftest import NodeOpcua

URI = "urn:sentio:interop"
DEADLINE_S = 15.0
NODES = {"setpoint": "Setpoint", "running": "Running", "counter": "Counter"}
ODD = {"label": ("Label", "String"), "profile": ("Profile", "Double[]")}


def boiler(extra: dict[str, str] | None = None) -> dict[str, Any]:
    nodes = [
        {
            "name": name,
            "node_id": f"nsu={URI};s=Boiler.{browse}",
            "unit": "Cel" * (name == "setpoint"),
        }
        for name, browse in {**NODES, **(extra or {})}.items()
    ]
    return {"name": "boiler", "nodes": nodes}


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., OpcuaConnector]]:
    made: list[OpcuaConnector] = []

    def build(endpoint: str, *devices: dict[str, Any], **extra: Any) -> OpcuaConnector:
        config = {"endpoint": endpoint, "timeout_s": 3.0, "devices": list(devices), **extra}
        made.append(OpcuaConnector(OpcuaConfig.model_validate(config)))
        return made[-1]

    try:
        yield build
    finally:
        for connector in made:
            await connector.close()


async def poll(connector: OpcuaConnector) -> list[Sample]:
    return [s async for s in connector.read()]


def values(samples: list[Sample]) -> dict[str, Reading]:
    return {s.metric: s for s in samples if isinstance(s, Reading)}


def events(samples: list[Sample], severity: Severity) -> list[Event]:
    return [s for s in samples if isinstance(s, Event) and s.severity is severity]


async def test_values_timestamps_and_odd_nodes(
    node_opcua: NodeOpcua, make: Callable[..., OpcuaConnector]
) -> None:
    odd = {name: browse for name, (browse, _) in ODD.items()}
    connector = make(node_opcua.endpoint, boiler(odd), source_timestamps=True)
    before = time.time_ns()
    first = await poll(connector)
    got = values(first)
    assert not events(first, Severity.ERROR)
    assert got["setpoint"].value == 21.5 and got["setpoint"].unit == "Cel"
    assert got["running"].value is True
    # timestamp gather: stamped when read, though the constant setpoint last changed at start
    source_s = got["setpoint_source_timestamp"].value
    assert isinstance(source_s, float)
    assert before <= got["setpoint"].timestamp_ns <= time.time_ns()
    assert source_s * 1e9 < got["setpoint"].timestamp_ns
    # a String and an array are warned of once each, by node id and type, and skipped
    warned = {e.attributes["metric"]: e for e in events(first, Severity.WARN)}
    assert set(warned) == set(ODD)
    for name, (browse, kind) in ODD.items():
        assert warned[name].attributes["type"] == kind
        assert f"nsu={URI};s=Boiler.{browse}" in warned[name].body
        assert name not in got
    await asyncio.sleep(0.5)  # the counter ticks every 200 ms on the server
    second = await poll(connector)
    assert not [s for s in second if isinstance(s, Event)]
    assert values(second)["counter"].value > got["counter"].value
    assert values(second)["setpoint"].timestamp_ns > got["setpoint"].timestamp_ns

    sourced = values(await poll(make(node_opcua.endpoint, boiler(), timestamp="source")))
    assert abs(sourced["setpoint"].timestamp_ns - source_s * 1e9) < 1e3  # float seconds
    assert sourced["setpoint"].timestamp_ns < before  # the time of its last change
    served = values(await poll(make(node_opcua.endpoint, boiler(), timestamp="server")))
    assert abs(served["setpoint"].timestamp_ns - time.time_ns()) < 5e9


async def test_discovered_paths_are_valid_paths(
    node_opcua: NodeOpcua, make: Callable[..., OpcuaConnector]
) -> None:
    device = {"name": "found", "browse": {"root": "Objects/i:Boiler"}}
    connector = make(node_opcua.endpoint, device, namespaces={"i": URI})
    found = values(await poll(connector))
    assert set(found) == {"setpoint", "running", "counter"}  # no String, no array
    path = found["setpoint"].attributes["browse_path"]
    assert path == "Objects/i:Boiler/i:Setpoint"
    again = make(
        node_opcua.endpoint,
        {"name": "again", "nodes": [{"name": "setpoint", "path": str(path)}]},
        namespaces={"i": URI},
    )
    assert values(await poll(again))["setpoint"].value == 21.5


async def test_a_restart_is_an_error_then_readings_again(
    node_opcua: NodeOpcua, make: Callable[..., OpcuaConnector]
) -> None:
    connector = make(node_opcua.endpoint, boiler())
    assert values(await poll(connector))["setpoint"].value == 21.5
    node_opcua.stop()
    [down] = events(await poll(connector), Severity.ERROR)
    assert down.device == "boiler" and down.attributes["error"] == "connection"
    node_opcua.start()
    back = await poll(connector)
    assert not events(back, Severity.ERROR)
    assert values(back)["setpoint"].value == 21.5


async def test_a_subscription_survives_a_restart(
    node_opcua: NodeOpcua, make: Callable[..., OpcuaConnector]
) -> None:
    subscription = {"publishing_interval_s": 0.1}
    connector = make(node_opcua.endpoint, boiler(), mode="subscribe", subscription=subscription)
    loop = asyncio.get_running_loop()

    async def counters(count: int) -> list[float]:
        seen: list[float] = []
        deadline = loop.time() + DEADLINE_S
        async with contextlib.aclosing(connector.read()) as stream:
            while len(seen) < count:
                sample = await asyncio.wait_for(anext(stream), deadline - loop.time())
                if isinstance(sample, Reading) and sample.metric == "counter":
                    assert isinstance(sample.value, float)
                    seen.append(sample.value)
        return seen

    before = await counters(3)
    assert before == sorted(before) and len(set(before)) == 3
    node_opcua.stop()
    with pytest.raises(Exception, match=r"lost|session|connection"):
        await counters(100)
    await connector.close()
    node_opcua.start()
    await connector.connect()
    after = await counters(2)
    assert after[-1] < before[0] + 100  # the restarted server counts from 0 again


async def test_an_untrusted_client_certificate_is_named(
    tmp_path: Path,
    make: Callable[..., OpcuaConnector],
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = NodeOpcua(tmp_path / "server", trust="reject")
    (tmp_path / "server").mkdir()
    server.start()
    try:
        security = {"policy": "Basic256Sha256", "cert_dir": str(tmp_path / "client")}
        connector = make(server.endpoint, boiler(), security=security)
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                [refused] = events(await poll(connector), Severity.ERROR)
                assert refused.attributes["error"] == "security"
                cert = client_certificate_file(OpcuaConfig.model_validate(
                    {"endpoint": server.endpoint, "devices": [boiler()], "security": security}
                ).security)  # fmt: skip
                assert f"trust {cert} on the server" in refused.body
                assert "AssertionError()" in refused.body
        assert not [r for r in caplog.records if r.exc_info], "a traceback reached the log"
        assert server.trust_rejected(), "the server kept no rejected certificate"
        server.restart()  # node-opcua rereads its trust folder only every few seconds on its own
        deadline = time.monotonic() + DEADLINE_S
        trusted = await poll(connector)
        while events(trusted, Severity.ERROR):
            assert time.monotonic() < deadline, "the server never took the certificate"
            await asyncio.sleep(0.2)
            trusted = await poll(connector)
        assert values(trusted)["setpoint"].value == 21.5
        # the server's certificate, trusted on first use, is reported in the exported logs
        [note] = events(trusted, Severity.WARN)
        assert "on first use" in note.body
    finally:
        server.stop()
