"""The native stack: health, status, clear start-up failures, clean shutdown."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from sentio.config import SentioConfig
from sentio.errors import BackendStartError
from sentio.stack.backends import backends
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from tests.conftest import stack_config


async def test_every_backend_is_healthy(stack_env: tuple[SentioConfig, Stack]) -> None:
    _, stack = stack_env
    states = await stack.status()
    assert {s.name for s in states} == {"victoriametrics", "loki", "tempo"}
    for state in states:
        assert state.running and state.healthy, state


async def test_up_twice_is_a_no_op(stack_env: tuple[SentioConfig, Stack]) -> None:
    _, stack = stack_env
    before = {n: stack.pid(n) for n in stack.backends}
    messages: list[str] = []
    await stack.up(messages.append)
    assert {n: stack.pid(n) for n in stack.backends} == before
    assert all("already running" in m for m in messages if "healthy" not in m)


async def test_busy_port_is_named_and_nothing_is_left_running(tmp_path: Path) -> None:
    config = stack_config(tmp_path)
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", config.stack.loki.http_port))
        blocker.listen()
        stack = Stack(config.stack, backends(load_versions()))
        with pytest.raises(BackendStartError, match=rf"port\(s\) {config.stack.loki.http_port}"):
            await stack.up(lambda _m: None)
    assert all(stack.pid(n) is None for n in stack.backends)


async def test_broken_backend_config_fails_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "conf"
    bad.mkdir()
    (bad / "loki.yaml").write_text("server:\n  http_listen_port: [not, a, port]\n")
    monkeypatch.setenv("SENTIO_BACKEND_CONFIG_DIR", str(bad))
    config = stack_config(tmp_path / "data")
    stack = Stack(config.stack, {"loki": backends(load_versions())["loki"]})
    with pytest.raises(BackendStartError) as info:
        await stack.up(lambda _m: None)
    message = str(info.value)
    assert "loki exited during start-up" in message
    assert "last log lines" in message
    assert stack.pid("loki") is None


async def test_down_stops_processes_and_status_reports_it(tmp_path: Path) -> None:
    config = stack_config(tmp_path)
    every = backends(load_versions())
    stack = Stack(config.stack, {"victoriametrics": every["victoriametrics"]})
    await stack.up(lambda _m: None)
    pid = stack.pid("victoriametrics")
    assert pid is not None
    await stack.down(progress=lambda _m: None)
    assert stack.pid("victoriametrics") is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    state = (await stack.status())[0]
    assert not state.running and not state.healthy
