from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sentio.bench.roundtrip import percentile
from sentio.cli import app
from sentio.stack.supervisor import port_in_use, tail
from tests.conftest import free_ports, stack_ports


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
    cfg = tmp_path / "s.yaml"
    cfg.write_text(yaml.safe_dump({"stack": {"data_dir": str(tmp_path), **stack_ports()}}))
    result = CliRunner().invoke(app, ["stack", "status", "-c", str(cfg), "--json"])
    assert result.exit_code == 1
    states = json.loads(result.output)
    assert [s["name"] for s in states] == [
        "victoriametrics",
        "victorialogs",
        "jaeger",
        "alertmanager",
        "vmalert",
        "vmalert-logs",
        "loki-api",
    ]
    assert not any(s["running"] or s["healthy"] for s in states)
