"""`sentio ai run` never shows a credential: not on stderr, not in the logs or spans it exports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentio.cli import app
from tests.conftest import free_port

PASSWORD = "pw-in-url-7f3c"
TOKEN = "tok-in-error-91ab2c"


class _Receiver(BaseHTTPRequestHandler):
    """Keep every OTLP request; refuse the series listing with an error echoing a token."""

    bodies: list[tuple[str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/api/v1/"):
            echo = f"proxy refused Authorization: Bearer {TOKEN} for /x?access_token={TOKEN}"
            self._answer(400, f'{{"status":"error","error":"{echo}"}}'.encode())
            return
        self.bodies.append((self.path, body))
        self._answer(200, b"")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep the test's output quiet."""


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    bodies: list[tuple[str, bytes]] = []
    handler = type("Receiver", (_Receiver,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.mark.parametrize("backend", ["unreachable", "refusing"])
def test_ai_run_masks_credentials_on_stderr_and_in_exported_logs(
    tmp_path: Path, receiver: tuple[str, list[tuple[str, bytes]]], backend: str
) -> None:
    otlp, bodies = receiver
    host = f"127.0.0.1:{free_port()}" if backend == "unreachable" else otlp.split("//")[1]
    config = tmp_path / "sentio.yaml"
    config.write_text(
        "telemetry:\n"
        f"  metrics: {{endpoint: {otlp}/v1/metrics}}\n"
        f"  logs: {{endpoint: {otlp}/v1/logs}}\n"
        f"  traces: {{endpoint: {otlp}/v1/traces}}\n"
        "ai:\n"
        f"  query_url: http://alice:{PASSWORD}@{host}\n"
        f"  state_dir: {tmp_path / 'state'}\n"
        "  queries:\n    - {name: temps, promql: up}\n"
    )
    result = CliRunner().invoke(app, ["ai", "run", "--once", "-c", str(config)])
    assert result.exit_code == 1, result.output
    # the first request of a cycle lists the query's series
    assert "fit temps failed: series 'up'" in result.output
    assert f"http://alice:***@{host}/api/v1/series" in result.output
    assert "1 cycle(s) failed" not in result.output and "2 cycle(s) failed" in result.output
    assert "Traceback" not in result.output
    logs = b"".join(body for path, body in bodies if path == "/v1/logs")
    traces = b"".join(body for path, body in bodies if path == "/v1/traces")
    assert b"fit temps failed" in logs and b"alice:***@" in logs
    assert b"alice:***@" in traces  # the span's status and exception event
    for secret in (PASSWORD, TOKEN):
        assert secret not in result.output
        assert all(secret.encode() not in body for _, body in bodies), secret
    if backend == "refusing":
        assert "Bearer ***" in result.output and "access_token=***" in result.output
