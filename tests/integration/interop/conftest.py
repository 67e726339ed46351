"""Implementations of the protocols written elsewhere, started on free loopback ports.

node-opcua (an OPC-UA server) and zigbee-herdsman-converters (the exposes of real device
definitions) come from ``scripts/install-interop``, which ``make install`` runs; pyModbusTCP is a
dev dependency. Each server runs as a child process that prints "ready" once it listens, so a
test can restart it on the same port.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sentio.stack.supervisor import stop_child
from tests.conftest import free_port
from tests.integration.connectors.conftest import Mosquitto

REPO = Path(__file__).resolve().parents[3]
HERE = REPO / "tests" / "interop"
INSTALL_SCRIPT = REPO / "scripts" / "install-interop"
START_TIMEOUT_S = 30.0


def interop_dir() -> Path:
    """Return the folder ``scripts/install-interop`` filled, failing when it has not run."""
    found = subprocess.run(
        ["bash", str(INSTALL_SCRIPT), "--print-dir"], check=True, capture_output=True, text=True
    )
    folder = Path(found.stdout.strip())
    if not (folder / ".installed").is_file():
        pytest.fail(f"the interop implementations are not in {folder}: run {INSTALL_SCRIPT}")
    return folder


class Child:
    """A server process that prints "ready" when it listens; restartable on the same port."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log = log
        self.env = {**os.environ, **(env or {})}
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the process and wait until it says it is ready."""
        assert self._process is None, "already running"
        with self.log.open("ab") as log:
            process = subprocess.Popen(
                self.argv, stdout=subprocess.PIPE, stderr=log, env=self.env, cwd=self.log.parent
            )
        self._process = process
        assert process.stdout is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready and process.stdout.readline().strip() == b"ready":
                return
            if process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.argv[1]} did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Stop the process: terminate, then wait (kill if it hangs)."""
        process, self._process = self._process, None
        if process is not None:
            stop_child(process, 10.0)
            if process.stdout is not None:
                process.stdout.close()

    def restart(self) -> None:
        """Stop the process and start it again with the same arguments."""
        self.stop()
        self.start()


class NodeOpcua(Child):
    """node-opcua's server with the interop address space (``tests/interop/opcua_server.mjs``)."""

    def __init__(self, workdir: Path, trust: str = "accept") -> None:
        self.port = free_port()
        self.pki = workdir / "pki"
        self.endpoint = f"opc.tcp://127.0.0.1:{self.port}/interop"
        modules = interop_dir() / "node_modules"
        script = str(HERE / "opcua_server.mjs")
        super().__init__(
            ["node", script, str(self.port), str(self.pki), trust],
            workdir / "node-opcua.log",
            {"NODE_PATH": str(modules)},
        )

    def trust_rejected(self) -> list[Path]:
        """Move every client certificate the server rejected into its trusted folder."""
        trusted = self.pki / "trusted" / "certs"
        trusted.mkdir(parents=True, exist_ok=True)
        moved = []
        for cert in sorted((self.pki / "rejected").glob("*")):
            moved.append(cert.rename(trusted / cert.name))
        return moved


class PyModbusTcp(Child):
    """pyModbusTCP's server with the interop registers (``tests/interop/modbus_server.py``)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        script = str(HERE / "modbus_server.py")
        super().__init__([sys.executable, script, str(self.port)], workdir / "pymodbustcp.log")


@pytest.fixture
def node_opcua(tmp_path: Path) -> Iterator[NodeOpcua]:
    """Run node-opcua's server for one test, trusting client certificates on first sight."""
    server = NodeOpcua(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pymodbustcp(tmp_path: Path) -> Iterator[PyModbusTcp]:
    """Run pyModbusTCP's server for one test."""
    server = PyModbusTcp(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def bridge_devices() -> dict[str, Any]:
    """Return the ``bridge/devices`` document made from zigbee-herdsman-converters' definitions."""
    document: dict[str, Any] = json.loads((interop_dir() / "exposes.json").read_text())
    return document


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """Run Mosquitto for the module; stop it at the end."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
