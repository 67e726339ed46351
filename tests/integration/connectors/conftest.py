"""A real Mosquitto broker on a free loopback port, for the MQTT connectors' integration tests."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sentio.connectors.contract import Sample

from sentio.stack.supervisor import stop_child
from tests.conftest import free_port

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
DEADLINE_S = 15.0


class Mosquitto:
    """One Mosquitto process with a generated config; restartable on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.config = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        self.config.write_text(
            f"listener {self.port} {self.host}\n"
            "allow_anonymous true\n"
            "persistence false\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the broker and wait until it accepts connections."""
        assert self._process is None, "already running"
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self.config)], stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            try:
                with socket.create_connection((self.host, self.port), timeout=0.5):
                    return
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"mosquitto did not listen on {self.port} in time") from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the broker: terminate, then wait (kill if it hangs)."""
        process, self._process = self._process, None
        if process is not None:
            stop_child(process, STOP_TIMEOUT_S)

    def restart(self) -> None:
        """Stop the broker and start it again on the same port."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """Return whether the process is alive."""
        return self._process is not None and self._process.poll() is None


@pytest.fixture(scope="module")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """Run Mosquitto for the module; stop it at the end."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def broker(mosquitto: Mosquitto) -> Mosquitto:
    """Return the module's broker, started again if a test left it stopped."""
    if not mosquitto.running:
        mosquitto.stop()
        mosquitto.start()
    return mosquitto


async def take(stream: AsyncIterator[Sample], count: int) -> list[Sample]:
    """Return the next ``count`` samples, failing after the deadline."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    samples: list[Sample] = []
    while len(samples) < count:
        samples.append(await asyncio.wait_for(anext(stream), deadline - loop.time()))
    return samples
