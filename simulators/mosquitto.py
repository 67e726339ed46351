"""A Mosquitto broker run as a child process on loopback, for the demo's Zigbee sensors.

Errors raised here extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── MosquittoError   Mosquitto exited or did not listen in time
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from sentio.errors import SentioError

SBIN = Path("/usr/sbin/mosquitto")


class MosquittoError(SentioError):
    """Raise when Mosquitto exits or does not listen in time."""


def find_mosquitto() -> str | None:
    """Return the mosquitto executable on PATH (or Debian's /usr/sbin one), or None."""
    found = shutil.which("mosquitto")
    if found is None and SBIN.is_file() and os.access(SBIN, os.X_OK):
        found = str(SBIN)
    return found


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class Mosquitto:
    """One Mosquitto process listening on ``host``, anonymous and without persistence."""

    def __init__(
        self, executable: str, workdir: Path, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.executable = executable
        self.workdir = workdir
        self.host = host
        self.port = port
        self.log = workdir / "mosquitto.log"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 10.0) -> None:
        """Start the broker and wait until it accepts connections; raise MosquittoError."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = self.port or _free_port(self.host)
        config = self.workdir / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} {self.host}\nallow_anonymous true\npersistence false\n"
            "log_dest stderr\nlog_type error\nlog_type warning\nlog_type notice\n"
        )
        with self.log.open("ab") as log:
            self._process = await asyncio.create_subprocess_exec(
                self.executable, "-c", str(config), stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout_s
        while True:
            if self._process.returncode is not None:
                tail = self.log.read_text(errors="replace")[-500:]
                self._process = None
                raise MosquittoError(f"mosquitto exited: {tail}")
            try:
                _, writer = await asyncio.open_connection(self.host, self.port)
            except OSError:
                if time.monotonic() > deadline:
                    await self.stop()
                    raise MosquittoError(
                        f"mosquitto did not listen on {self.host}:{self.port} in {timeout_s:g} s"
                    ) from None
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            return

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Terminate the broker (kill it if it hangs); safe to call twice."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
