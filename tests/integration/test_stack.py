"""The native stack: health, status, clear start-up failures, clean shutdown."""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

import pytest

from sentio.config import SentioConfig
from sentio.errors import BackendStartError
from sentio.stack.backends import backends
from sentio.stack.install import binary_path, verify
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from tests.conftest import stack_config


async def test_every_backend_is_healthy(stack_env: tuple[SentioConfig, Stack]) -> None:
    _, stack = stack_env
    states = await stack.status()
    assert [s.name for s in states] == [
        "victoriametrics",
        "victorialogs",
        "jaeger",
        "alertmanager",
        "vmalert",
        "vmalert-logs",
        "loki-api",
    ]
    for state in states:
        assert state.running and state.healthy, state


def _listening(pid: int) -> set[str]:
    """Return the host:port of every TCP socket ``pid`` listens on (IPv4 and IPv6)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = str(fd.readlink())
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                address, port = fields[1].split(":")
                host = socket.inet_ntop(
                    socket.AF_INET if table == "tcp" else socket.AF_INET6,
                    bytes.fromhex(address)[::-1]
                    if table == "tcp"
                    else b"".join(bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8)),
                )
                found.add(f"{host}:{int(port, 16)}")
    return found


def test_every_listener_is_on_the_stack_host_and_data_under_its_folder(
    stack_env: tuple[SentioConfig, Stack],
) -> None:
    config, stack = stack_env
    for name in stack.backends:
        pid = stack.pid(name)
        assert pid is not None, name
        listeners = _listening(pid)
        assert listeners, f"{name} listens on nothing"
        expected = {f"127.0.0.1:{port}" for port in stack.backends[name].ports(config.stack)}
        assert listeners == expected, f"{name} listens on {listeners}, configured {expected}"
        assert Path(f"/proc/{pid}/cwd").resolve() == (config.stack.data_dir / name).resolve()
    assert (config.stack.data_dir / "jaeger" / "keys").is_dir()
    assert any((config.stack.data_dir / "victoriametrics").iterdir())
    assert any((config.stack.data_dir / "victorialogs").iterdir())


def test_each_binary_reports_its_pinned_version(stack_env: tuple[SentioConfig, Stack]) -> None:
    pinned = load_versions()
    expected = {
        "victoria-metrics": pinned["VICTORIAMETRICS_VERSION"],
        "vmalert": pinned["VICTORIAMETRICS_VERSION"],
        "victoria-logs": pinned["VICTORIALOGS_VERSION"],
        "jaeger": "v" + pinned["JAEGER_V2_VERSION"],
        "alertmanager": pinned["ALERTMANAGER_VERSION"].lstrip("v"),
    }
    _, stack = stack_env
    seen = set()
    for backend in stack.backends.values():
        if backend.program is None:
            continue  # Sentio's own process (the Loki API): checked by its /ready
        reported = verify(backend, binary_path(backend))
        assert expected[backend.program.name] in reported, (backend.name, reported)
        seen.add(backend.program.name)
    assert seen == set(expected)


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
        blocker.bind(("127.0.0.1", config.stack.jaeger.otlp_http_port))
        blocker.listen()
        stack = Stack(config.stack, backends(load_versions()))
        with pytest.raises(
            BackendStartError, match=rf"jaeger: port\(s\) {config.stack.jaeger.otlp_http_port}"
        ):
            await stack.up(lambda _m: None)
    assert all(stack.pid(n) is None for n in stack.backends)


async def test_broken_backend_config_fails_with_its_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "conf"
    bad.mkdir()
    (bad / "jaeger.yaml").write_text("receivers:\n  otlp:\n    protocols: [not, a, map]\n")
    monkeypatch.setenv("SENTIO_BACKEND_CONFIG_DIR", str(bad))
    config = stack_config(tmp_path / "data")
    stack = Stack(config.stack, {"jaeger": backends(load_versions())["jaeger"]})
    with pytest.raises(BackendStartError) as info:
        await stack.up(lambda _m: None)
    message = str(info.value)
    assert "jaeger exited during start-up" in message
    assert "last log lines" in message
    assert "protocols" in message
    assert stack.pid("jaeger") is None


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
    assert state.version == "" and state.pinned == load_versions()["VICTORIAMETRICS_VERSION"]
