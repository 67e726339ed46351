"""A real in-process asyncua server on a free loopback port, and fixtures for the OPC-UA tests."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from asyncua import Node, Server, ua
from asyncua.crypto import cert_gen
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from sentio.connectors.contract import Event, Reading, Sample, Severity
from sentio.connectors.opcua import OpcuaConfig, OpcuaConnector

from tests.conftest import free_port

URI = "urn:sentio:test"
SERVER_URI = "urn:sentio:test-server"
DEADLINE_S = 15.0
VALUES: dict[str, float | int | bool] = {
    "temperature": 21.5,
    "pressure": 1.25,
    "count": 42,
    "running": True,
}
# Objects/Line1 (folder): Pump1 and Pump2 (objects) with these variables, and a nested Motor
LINE: dict[str, dict[str, float | str]] = {
    "Pump1": {"Temperature": 40.0, "OutletTemperature": 45.5, "Speed": 1450.0, "Label": "p1"},
    "Pump2": {"Temperature": 38.0, "Speed": 1300.0},
    "Pump2/Motor": {"WindingTemperature": 70.0},
}


def make_certificate(directory: Path, uri: str, use: ExtendedKeyUsageOID) -> tuple[Path, Path]:
    """Write a self-signed certificate (DER) and key (PEM) for ``uri``; return their paths."""
    key = cert_gen.generate_private_key()
    names: list[x509.GeneralName] = [
        x509.UniformResourceIdentifier(uri),
        x509.DNSName(socket.gethostname()),
    ]
    cert = cert_gen.generate_self_signed_app_certificate(key, uri, {}, names, extended=[use])
    stem = uri.replace(":", "_")
    cert_path, key_path = directory / f"{stem}.der", directory / f"{stem}.key.pem"
    cert_path.write_bytes(cert.public_bytes(Encoding.DER))
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    return cert_path, key_path


@dataclass
class OpcuaServer:
    """An asyncua server on a fixed port; restartable, optionally with a shifted namespace index."""

    port: int
    policies: list[ua.SecurityPolicyType] = field(
        default_factory=lambda: [ua.SecurityPolicyType.NoSecurity]
    )
    certificate: tuple[Path, Path] | None = None
    server: Server | None = None
    index: int = 0
    variables: dict[str, Node] = field(default_factory=dict)

    @property
    def endpoint(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}/sentio/"

    async def start(self, extra_namespaces: tuple[str, ...] = ()) -> None:
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_security_policy(self.policies)
        if self.certificate is not None:
            await server.set_application_uri(SERVER_URI)
            await server.load_certificate(self.certificate[0].read_bytes(), "der")
            await server.load_private_key(self.certificate[1].read_bytes(), None, "pem")
        for uri in extra_namespaces:
            await server.register_namespace(uri)
        self.index = await server.register_namespace(URI)
        await self._boiler(server)
        await self._line(server)
        await server.start()
        self.server = server

    async def _boiler(self, server: Server) -> None:
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

    async def _line(self, server: Server) -> None:
        parents = {"": await server.nodes.objects.add_folder(self.index, "Line1")}
        for path, variables in LINE.items():
            parent, _, name = path.rpartition("/")
            node = await parents[parent].add_object(self.index, name)
            parents[path] = node
            await node.add_property(self.index, "SerialNumber", 1234.0)
            for variable, value in variables.items():
                self.variables[f"{path}/{variable}"] = await node.add_variable(
                    ua.NodeId(f"Line1.{path}.{variable}", self.index, ua.NodeIdType.String),
                    ua.QualifiedName(variable, self.index),
                    value,
                )

    async def stop(self) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        # asyncua keeps a session with subscriptions alive after its connection drops (so a
        # client could resume it), and its stop() leaves those sessions' tasks running
        for session in list(server.iserver._external_sessions.values()):
            await session.close_session(True)
        await server.stop()

    def node(self, name: str) -> Node:
        return self.variables[name]


@pytest.fixture
async def opcua_server() -> AsyncIterator[OpcuaServer]:
    """Run a server without security for one test."""
    server = OpcuaServer(free_port())
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def make_connector() -> AsyncIterator[Callable[..., OpcuaConnector]]:
    """Make connectors for one test, closing each at its end."""
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
    """Return a device entry reading the given node ids, with units for the known metrics."""
    units = {"temperature": "Cel", "pressure": "bar"}
    return {
        "name": name,
        "nodes": [
            {"name": metric, "node_id": node_id, "unit": units.get(metric, "1")}
            for metric, node_id in node_ids.items()
        ],
    }


def nsu(name: str) -> str:
    """Return the ``nsu=`` node id of a boiler variable."""
    return f"nsu={URI};s=Boiler.{name}"


async def poll(connector: OpcuaConnector) -> list[Sample]:
    """Return one ``read`` of a polling connector."""
    return [s async for s in connector.read()]


def readings(samples: Iterable[Sample | BaseException]) -> dict[str, Reading]:
    """Return the last reading of each metric."""
    return {s.metric: s for s in samples if isinstance(s, Reading)}


def errors(samples: Iterable[Sample | BaseException]) -> list[Event]:
    """Return the ERROR events."""
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
