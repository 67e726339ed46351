"""Shared fixtures: leak checks for every test, and the real backends for integration tests."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from sentio.config import SentioConfig
from sentio.stack.backends import backends
from sentio.stack.install import install
from sentio.stack.ports import free_ports as _free_ports
from sentio.stack.ports import free_stack_ports
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions

LEAK_GRACE_S = 5.0


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct free loopback TCP ports."""
    return _free_ports(count)


def free_port() -> int:
    """Return one free loopback TCP port."""
    return free_ports(1)[0]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Give every coroutine test the leaked-task check."""
    for item in items:
        func = getattr(item, "function", None)
        if func is not None and inspect.iscoroutinefunction(func):
            item.add_marker(pytest.mark.usefixtures("no_leaked_tasks"))


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves asyncio tasks running."""
    before = asyncio.all_tasks()
    yield
    me = asyncio.current_task()
    deadline = time.monotonic() + LEAK_GRACE_S
    while True:
        leaked = [
            t for t in asyncio.all_tasks() if t not in before and t is not me and not t.done()
        ]
        if not leaked or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    assert not leaked, f"test leaked asyncio tasks: {leaked}"


@pytest.fixture(autouse=True)
def no_leaked_threads() -> Iterator[None]:
    """Fail a test that leaves threads running."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + LEAK_GRACE_S
    while True:
        leaked = [t for t in threading.enumerate() if t not in before and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not leaked, f"test leaked threads: {[t.name for t in leaked]}"


def stack_ports() -> dict[str, Any]:
    """Return a `stack:` section on free loopback ports, rules evaluated every 2 s."""
    ports = free_stack_ports()
    ports["vmalert"]["evaluation_interval"] = "2s"
    return ports


def stack_config(data_dir: Path, service: str = "sentio-test") -> SentioConfig:
    """Return a config whose backends listen on free loopback ports under ``data_dir``."""
    return SentioConfig.model_validate(
        {
            "service": {"name": service, "instance_id": "test-1"},
            "stack": {"data_dir": str(data_dir), "start_timeout_s": 120, **stack_ports()},
            "telemetry": {"export_interval_s": 3600},
        }
    )


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SentioConfig, Stack]]:
    """Start the real native stack (every backend) for the session; stop it after."""
    config = stack_config(tmp_path_factory.mktemp("stack"))
    every = backends(load_versions())
    install(every.values(), None, lambda _m: None)
    stack = Stack(config.stack, every)
    asyncio.run(stack.up(lambda _m: None))
    try:
        yield config, stack
    finally:
        asyncio.run(stack.down(progress=lambda _m: None))


@pytest.fixture(scope="session")
def stack_config_live(stack_env: tuple[SentioConfig, Stack]) -> SentioConfig:
    """Return the config of the running session stack."""
    return stack_env[0]
