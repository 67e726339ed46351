"""The OPC-UA connector against real asyncua servers that offer only Basic256Sha256."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from asyncua import ua
from cryptography.x509.oid import ExtendedKeyUsageOID
from sentio.connectors.contract import Event, Severity
from sentio.connectors.opcua import OpcuaConnector, OpcuaSecurityError
from sentio.connectors.opcua.security import cert_files, trusted_file

from .opcua_server import (
    SERVER_URI,
    VALUES,
    OpcuaServer,
    boiler,
    errors,
    free_port,
    make_certificate,
    make_connector,
    nsu,
    poll,
    readings,
)

__all__ = ["make_connector"]

SIGN = ua.SecurityPolicyType.Basic256Sha256_Sign
SIGN_AND_ENCRYPT = ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt


@pytest.fixture
def server_certificate(tmp_path: Path) -> tuple[Path, Path]:
    """Return the server's certificate and key, generated in the test's directory."""
    directory = tmp_path / "server"
    directory.mkdir()
    return make_certificate(directory, SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH)


@pytest.fixture
def secure_server(
    server_certificate: tuple[Path, Path],
) -> Callable[[ua.SecurityPolicyType], OpcuaServer]:
    """Return a factory of servers that offer one secure policy and mode only."""

    def make(policy: ua.SecurityPolicyType) -> OpcuaServer:
        return OpcuaServer(free_port(), policies=[policy], certificate=server_certificate)

    return make


@pytest.fixture
async def encrypting_server(
    secure_server: Callable[[ua.SecurityPolicyType], OpcuaServer],
) -> AsyncIterator[OpcuaServer]:
    """Run a server offering Basic256Sha256 SignAndEncrypt only."""
    server = secure_server(SIGN_AND_ENCRYPT)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def signing_server(
    secure_server: Callable[[ua.SecurityPolicyType], OpcuaServer],
) -> AsyncIterator[OpcuaServer]:
    """Run a server offering Basic256Sha256 Sign only."""
    server = secure_server(SIGN)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


def devices() -> list[dict[str, Any]]:
    return [boiler({"temperature": nsu("temperature"), "count": nsu("count")})]


async def test_sign_and_encrypt_with_a_generated_certificate(
    encrypting_server: OpcuaServer,
    make_connector: Callable[..., OpcuaConnector],
    tmp_path: Path,
) -> None:
    cert_dir = tmp_path / "client"
    security = {"policy": "Basic256Sha256", "mode": "SignAndEncrypt", "cert_dir": str(cert_dir)}
    connector = make_connector(
        encrypting_server.endpoint,
        devices(),
        security=security,
        username="sentio",
        password="s3cret",
    )
    samples = await poll(connector)
    assert not errors(samples)
    assert readings(samples)["temperature"].value == VALUES["temperature"]
    cert_file, key_file = cert_files(cert_dir, "urn:sentio:opcua-client")
    certificate = cert_file.read_bytes()
    assert key_file.stat().st_mode & 0o777 == 0o600

    # a second connector (a restart) reuses the certificate the server may have been told to trust
    again = make_connector(encrypting_server.endpoint, devices(), security=security)
    assert readings(await poll(again))["count"].value == VALUES["count"]
    assert cert_file.read_bytes() == certificate
    assert sorted(p.name for p in cert_dir.iterdir()) == sorted(
        [cert_file.name, key_file.name, "trusted"]
    )
    assert cert_dir.stat().st_mode & 0o777 == 0o700
    assert cert_file.stat().st_mode & 0o777 == 0o600


async def test_sign_with_the_server_certificate_pinned(
    signing_server: OpcuaServer,
    make_connector: Callable[..., OpcuaConnector],
    server_certificate: tuple[Path, Path],
    tmp_path: Path,
) -> None:
    connector = make_connector(
        signing_server.endpoint,
        devices(),
        security={
            "policy": "Basic256Sha256",
            "mode": "Sign",
            "cert_dir": str(tmp_path / "client"),
            "server_certificate": str(server_certificate[0]),
        },
    )
    samples = await poll(connector)
    assert not errors(samples)
    assert readings(samples)["temperature"].value == VALUES["temperature"]


async def test_a_configured_client_certificate(
    encrypting_server: OpcuaServer,
    make_connector: Callable[..., OpcuaConnector],
    tmp_path: Path,
) -> None:
    cert, key = make_certificate(tmp_path, "urn:example:own", ExtendedKeyUsageOID.CLIENT_AUTH)
    connector = make_connector(
        encrypting_server.endpoint,
        devices(),
        security={"policy": "Basic256Sha256", "certificate": str(cert), "private_key": str(key)},
        mode="subscribe",
    )
    await connector.connect()
    assert connector.connected
    assert connector.push


@pytest.mark.parametrize(
    ("security", "expected"),
    [
        ("none", "security.policy None and security.mode None"),
        ({"policy": "Basic256Sha256", "mode": "Sign"}, "security.mode Sign"),
    ],
)
async def test_wrong_security_fails_with_a_clear_error(
    encrypting_server: OpcuaServer,
    make_connector: Callable[..., OpcuaConnector],
    tmp_path: Path,
    security: str | dict[str, str],
    expected: str,
) -> None:
    if isinstance(security, dict):
        security = {**security, "cert_dir": str(tmp_path / "client")}
    connector = make_connector(encrypting_server.endpoint, devices(), security=security)
    [event] = errors(await poll(connector))
    assert event.attributes["error"] == "security"
    assert expected in event.body
    assert "it offers Basic256Sha256/SignAndEncrypt" in event.body
    assert not connector.connected

    pushing = make_connector(
        encrypting_server.endpoint, devices(), security=security, mode="subscribe"
    )
    with pytest.raises(OpcuaSecurityError, match=expected):
        await pushing.connect()


async def test_a_server_certificate_other_than_the_pinned_one_is_refused(
    encrypting_server: OpcuaServer,
    make_connector: Callable[..., OpcuaConnector],
    tmp_path: Path,
) -> None:
    other, _ = make_certificate(tmp_path, SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH)
    connector = make_connector(
        encrypting_server.endpoint,
        devices(),
        security={
            "policy": "Basic256Sha256",
            "cert_dir": str(tmp_path / "client"),
            "server_certificate": str(other),
        },
    )
    [event] = errors(await poll(connector))
    assert event.attributes["error"] == "security"
    assert "other than security.server_certificate" in event.body


async def test_an_unpinned_server_certificate_is_trusted_on_first_use_and_a_change_refused(
    secure_server: Callable[[ua.SecurityPolicyType], OpcuaServer],
    make_connector: Callable[..., OpcuaConnector],
    tmp_path: Path,
) -> None:
    cert_dir = tmp_path / "client"
    security = {"policy": "Basic256Sha256", "cert_dir": str(cert_dir)}
    server = secure_server(SIGN_AND_ENCRYPT)
    await server.start()
    try:
        first = await poll(make_connector(server.endpoint, devices(), security=security))
        assert not errors(first)
        # the warning reaches the exported logs, not stderr only
        [note] = [s for s in first if isinstance(s, Event) and "on first use" in s.body]
        assert note.severity is Severity.WARN
    finally:
        await server.stop()
    trusted = trusted_file(cert_dir, server.endpoint)
    assert trusted.read_bytes() == server.certificate[0].read_bytes()  # type: ignore[index]
    assert trusted.stat().st_mode & 0o777 == 0o600
    assert trusted.parent.stat().st_mode & 0o777 == 0o700

    # the same endpoint now presents another certificate: refused, never silently accepted
    (tmp_path / "new").mkdir()
    replaced = make_certificate(tmp_path / "new", SERVER_URI, ExtendedKeyUsageOID.SERVER_AUTH)
    other = OpcuaServer(server.port, policies=[SIGN_AND_ENCRYPT], certificate=replaced)
    await other.start()
    try:
        [event] = errors(await poll(make_connector(other.endpoint, devices(), security=security)))
        assert event.attributes["error"] == "security"
        assert "other than the one trusted on first use" in event.body
        command = event.body.rpartition("accept the new one with: ")[2]
        assert command.startswith("mv ")
        accept = await asyncio.create_subprocess_exec(*shlex.split(command))
        assert await accept.wait() == 0
        assert not errors(await poll(make_connector(other.endpoint, devices(), security=security)))
    finally:
        await other.stop()
    assert trusted.read_bytes() == replaced[0].read_bytes()
