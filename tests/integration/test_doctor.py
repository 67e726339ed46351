"""`sentio doctor` against the real stack: all ok when it runs, each problem named when not."""

from __future__ import annotations

import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sentio.cli import app
from sentio.config import SentioConfig
from tests.conftest import stack_config

EVERY_CHECK = (
    "victoriametrics",
    "victorialogs",
    "jaeger",
    "alertmanager",
    "vmalert",
    "vmalert-logs",
    "otlp metrics",
    "otlp logs",
    "otlp traces",
    "clock",
    "spool",
)


def _write(config: SentioConfig, path: Path) -> Path:
    path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
    return path


def _lines(output: str) -> dict[str, str]:
    return {line[6:30].strip(): line for line in output.splitlines() if line[:4].strip()}


def test_a_healthy_stack_is_all_ok(stack_config_live: SentioConfig, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["doctor", "-c", str(_write(stack_config_live, tmp_path / "s.yaml"))]
    )
    lines = _lines(result.output)
    assert result.exit_code == 0, result.output
    for name in EVERY_CHECK:
        assert lines[name].startswith("ok"), lines.get(name, result.output)
    assert "victoria-metrics-v1.151.0" in lines["victoriametrics"]
    assert "v2.13.0" in lines["jaeger"]
    assert "0.35.0" in lines["alertmanager"]


def test_a_stopped_stack_and_a_foreign_listener_are_named(tmp_path: Path) -> None:
    config = stack_config(tmp_path / "data")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", config.stack.victorialogs.port))
        squatter.listen()
        result = CliRunner().invoke(app, ["doctor", "-c", str(_write(config, tmp_path / "s.yaml"))])
    lines = _lines(result.output)
    assert result.exit_code == 1
    assert lines["victoriametrics"].startswith("FAIL")
    assert "start it with `sentio stack up`" in lines["victoriametrics"]
    port = lines[f"port {config.stack.victorialogs.port}"]
    assert port.startswith("FAIL") and f"pid {os.getpid()}" in port, port
    assert lines["otlp logs"].startswith("FAIL")


def test_a_broken_config_is_named_with_file_line_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("stack:\n  victorialogs:\n    port: 99999\n")
    result = CliRunner().invoke(app, ["doctor", "-c", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:3: stack.victorialogs.port:" in result.output
    assert "Traceback" not in result.output


def _half_broken(status_body: bytes) -> type[BaseHTTPRequestHandler]:
    """Return a handler that is healthy but whose status API answers ``status_body``."""

    class HalfBroken(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK" if self.path.startswith("/-/") else status_body)

        def log_message(self, *_args: object) -> None:
            """Keep the test's output quiet."""

    return HalfBroken


@pytest.mark.parametrize(
    "status_body", [b"<html>not json", b"[]", b'{"versionInfo": "v0"}', b"null"]
)
def test_a_backend_whose_version_probe_fails_is_reported_not_a_traceback(
    tmp_path: Path, status_body: bytes
) -> None:
    config = stack_config(tmp_path / "data")
    server = ThreadingHTTPServer(
        ("127.0.0.1", config.stack.alertmanager.port), _half_broken(status_body)
    )
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        result = CliRunner().invoke(app, ["doctor", "-c", str(_write(config, tmp_path / "s.yaml"))])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    line = _lines(result.output)["alertmanager"]
    assert line.startswith("ok") and "version unknown" in line, line
