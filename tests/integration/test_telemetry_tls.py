"""OTLP export over mutual TLS with headers, to a local HTTPS receiver that checks both."""

from __future__ import annotations

import asyncio
import logging
import ssl
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from sentio.config import SentioConfig
from sentio.otlp import ExportError, MetricsPusher, Point, encode_gauges
from sentio.telemetry import setup
from tests.conftest import free_ports


@dataclass
class Received:
    requests: list[tuple[str, str, str]] = field(default_factory=list)


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return a folder with a CA, a server certificate for 127.0.0.1 and a client certificate."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
             "-keyout", "ca.key", "-out", "ca.pem", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=sentio-{name}",
                 "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", f"{name}.pem",
                 cwd=d)  # fmt: skip
    return d


@pytest.fixture
async def receiver(pki: Path) -> AsyncIterator[tuple[int, Received]]:
    """Serve OTLP/HTTP over TLS that requires a client certificate signed by the test CA."""
    got = Received()

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        cert = request.transport.get_extra_info("peercert") if request.transport else None
        subject = dict(x[0] for x in cert["subject"])["commonName"] if cert else ""
        got.requests.append((request.path, request.headers.get("Authorization", ""), subject))
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/{signal}", handle)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    ctx.load_cert_chain(pki / "server.pem", pki / "server.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_ports(1)[0]
    site = web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx)
    await site.start()
    try:
        yield port, got
    finally:
        await runner.cleanup()


def _config(port: int, pki: Path, with_client_cert: bool) -> SentioConfig:
    tls: dict[str, str] = {"ca_file": str(pki / "ca.pem")}
    if with_client_cert:
        tls |= {"cert_file": str(pki / "client.pem"), "key_file": str(pki / "client.key")}
    exporter = {"headers": {"Authorization": "Bearer t0k3n"}, "tls": tls, "timeout_s": 5}
    return SentioConfig.model_validate(
        {
            "service": {"name": "tls-test"},
            "telemetry": {
                signal: {**exporter, "endpoint": f"https://127.0.0.1:{port}/v1/{signal}"}
                for signal in ("metrics", "logs", "traces")
            }
            | {"export_interval_s": 3600},
        }
    )


def _emit_all(config: SentioConfig) -> bool:
    telemetry = setup(config)
    logger = logging.getLogger("tls-test")
    logger.propagate = False
    handler = telemetry.logging_handler()
    logger.addHandler(handler)
    try:
        counter = telemetry.meter_provider.get_meter("t").create_counter("tls.test", unit="1")
        with telemetry.tracer_provider.get_tracer("t").start_as_current_span("s"):
            counter.add(1)
            logger.warning("hello over TLS")
        return telemetry.flush(10)
    finally:
        logger.removeHandler(handler)
        telemetry.shutdown()


async def test_every_signal_uses_ca_client_cert_and_headers(
    receiver: tuple[int, Received], pki: Path
) -> None:
    port, got = receiver
    assert await asyncio.to_thread(_emit_all, _config(port, pki, with_client_cert=True))
    assert {p for p, _, _ in got.requests} == {"/v1/logs", "/v1/metrics", "/v1/traces"}
    assert {(auth, subject) for _, auth, subject in got.requests} == {
        ("Bearer t0k3n", "sentio-client")
    }


async def test_without_client_cert_the_server_accepts_nothing(
    receiver: tuple[int, Received], pki: Path
) -> None:
    port, got = receiver
    await asyncio.to_thread(_emit_all, _config(port, pki, with_client_cert=False))
    assert got.requests == []


async def _push(config: SentioConfig) -> None:
    body = encode_gauges({"service.name": "tls-test"}, [Point("tls.raw", 1.5, 1_000)])
    async with aiohttp.ClientSession() as session:
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        await pusher.push(body)


async def test_the_raw_sample_pusher_uses_ca_client_cert_and_headers(
    receiver: tuple[int, Received], pki: Path
) -> None:
    port, got = receiver
    await _push(_config(port, pki, with_client_cert=True))
    assert got.requests == [("/v1/metrics", "Bearer t0k3n", "sentio-client")]


async def test_the_raw_sample_pusher_without_client_cert_is_refused_and_retried(
    receiver: tuple[int, Received], pki: Path
) -> None:
    port, got = receiver
    with pytest.raises(ExportError) as refused:
        await _push(_config(port, pki, with_client_cert=False))
    assert refused.value.retryable
    assert got.requests == []


async def test_the_raw_sample_pusher_rejects_a_server_its_ca_did_not_sign(
    receiver: tuple[int, Received], pki: Path, tmp_path: Path
) -> None:
    port, got = receiver
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
             "-keyout", "other.key", "-out", "other.pem", cwd=tmp_path)  # fmt: skip
    config = _config(port, pki, with_client_cert=True)
    data = config.model_dump(mode="json")
    data["telemetry"]["metrics"]["tls"]["ca_file"] = str(tmp_path / "other.pem")
    with pytest.raises(ExportError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        await _push(SentioConfig.model_validate(data))
    assert got.requests == []
