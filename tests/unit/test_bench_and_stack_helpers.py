from __future__ import annotations

import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sentio.bench.roundtrip import percentile
from sentio.cli import app
from sentio.stack.supervisor import port_in_use, tail
from tests.conftest import free_ports


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == pytest.approx(50.5)
    assert percentile(values, 0.99) == pytest.approx(99.01)
    assert percentile([3.0], 0.99) == 3.0


def test_tail_returns_last_lines_or_says_why_not(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"
    assert tail(tmp_path / "missing.log").startswith("(no log at")


def test_port_in_use_sees_a_listener() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert port_in_use("127.0.0.1", sock.getsockname()[1])
    assert not port_in_use("127.0.0.1", free_ports(1)[0])


def test_status_of_a_stopped_stack_exits_1_and_names_each_backend(tmp_path: Path) -> None:
    p = free_ports(8)
    cfg = tmp_path / "s.yaml"
    cfg.write_text(
        f"stack:\n  data_dir: {tmp_path}\n  victoriametrics: {{port: {p[0]}}}\n"
        f"  loki: {{http_port: {p[1]}, grpc_port: {p[2]}}}\n"
        f"  tempo: {{http_port: {p[3]}, grpc_port: {p[4]}, otlp_http_port: {p[5]}, "
        f"otlp_grpc_port: {p[6]}}}\n"
    )
    result = CliRunner().invoke(app, ["stack", "status", "-c", str(cfg), "--json"])
    assert result.exit_code == 1
    assert '"name": "victoriametrics"' in result.output
    assert '"running": false' in result.output
