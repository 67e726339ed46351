"""Start, health-check, report on and stop the backends as native processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from sentio.config import StackConfig
from sentio.errors import BackendStartError, StackError
from sentio.stack.backends import Backend, victorialogs_cluster
from sentio.stack.install import binary_path

Progress = Callable[[str], None]
KILL_WAIT_S = 10.0


def stop_child(process: subprocess.Popen[bytes], grace_s: float = KILL_WAIT_S) -> None:
    """Stop a child process: SIGTERM, then SIGKILL if it has not exited after ``grace_s``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class BackendStatus:
    """What `sentio stack status` reports for one backend."""

    name: str
    running: bool
    healthy: bool
    pid: int | None
    url: str
    version: str  # the running build's (the pinned one); empty when it does not run
    detail: str
    pinned: str = ""


def tail(path: Path, lines: int = 20) -> str:
    """Return the last ``lines`` lines of a log file, or a note that it is empty."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            text = fh.read().decode("utf-8", "replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:]) or f"(log {path} is empty)"


def port_in_use(host: str, port: int) -> bool:
    """Return whether something accepts connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _alive(pid: int, binary: str) -> bool:
    """Return whether ``pid`` runs ``binary`` (not exited, not a zombie, not a reused pid)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0].decode()
    except OSError:
        return False
    if stat.rpartition(")")[2].split()[0] in {"Z", "X"}:
        return False
    # The command line reads empty for a moment while the exec is still under way.
    return cmdline in {binary, ""}


def _reap(pid: int) -> None:
    """Collect the exit status of ``pid`` if it is our exited child; never block."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class Stack:
    """The backends of one data directory, as native processes."""

    def __init__(
        self,
        config: StackConfig,
        selected: Mapping[str, Backend],
        bin_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.backends = victorialogs_cluster(config, selected)
        self.bin_dir = bin_dir or config.bin_dir
        self.root = config.data_dir
        self.run_dir = self.root / "run"
        self.log_dir = self.root / "logs"

    def log_path(self, name: str) -> Path:
        """Return the log file of backend ``name``."""
        return self.log_dir / f"{name}.log"

    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.json"

    def pid(self, name: str) -> int | None:
        """Return the pid of ``name`` if this stack started it and it still runs."""
        try:
            state = json.loads(self._pid_file(name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        pid, binary = int(state["pid"]), str(state["binary"])
        return pid if _alive(pid, binary) else None

    def _spawn(self, backend: Backend) -> int:
        binary = binary_path(backend, self.bin_dir)
        if not binary.exists():
            raise StackError(
                f"{backend.name} is not installed ({binary} is missing): run `sentio stack install`"
            )
        busy = [p for p in backend.ports(self.config) if port_in_use(self.config.host, p)]
        if busy:
            raise BackendStartError(
                f"{backend.name}: port(s) {', '.join(map(str, busy))} on {self.config.host} are "
                "already in use by another process; set other ports under `stack:` in the config"
            )
        data = self.root / backend.name
        data.mkdir(parents=True, exist_ok=True)
        if backend.prepare is not None:
            backend.prepare(self.config)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **backend.env(self.config, data)}
        with self.log_path(backend.name).open("ab") as log:
            log.write(f"\n--- sentio: starting {backend.name} at {time.ctime()}\n".encode())
            log.flush()
            argv = backend.command(self.config) if backend.command else [str(binary)]
            proc = subprocess.Popen(
                [*argv, *backend.args(self.config, data)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=data,
                env=env,
                start_new_session=True,
            )
        state = {"pid": proc.pid, "binary": str(binary), "started": time.time()}
        self._pid_file(backend.name).write_text(json.dumps(state), encoding="utf-8")
        return proc.pid

    async def _healthy(self, session: aiohttp.ClientSession, backend: Backend) -> tuple[bool, str]:
        try:
            async with session.get(
                backend.health_url(self.config), timeout=aiohttp.ClientTimeout(total=2)
            ) as resp:
                body = (await resp.text()).strip()
                return resp.status == 200, f"HTTP {resp.status} {body[:120]}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            return False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__

    async def _wait_healthy(self, backend: Backend, deadline: float) -> None:
        detail = "not probed"
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.pid(backend.name) is None:
                    raise BackendStartError(
                        f"{backend.name} exited during start-up; last log lines "
                        f"({self.log_path(backend.name)}):\n{tail(self.log_path(backend.name))}"
                    )
                ok, detail = await self._healthy(session, backend)
                if ok:
                    return
                await asyncio.sleep(0.25)
        raise BackendStartError(
            f"{backend.name} was not healthy at {backend.health_url(self.config)} within "
            f"{self.config.start_timeout_s:.0f}s ({detail}); last log lines "
            f"({self.log_path(backend.name)}):\n{tail(self.log_path(backend.name))}"
        )

    async def up(self, progress: Progress = print) -> dict[str, float]:
        """Start every backend not yet running; wait until all are healthy; return start times."""
        started: list[str] = []
        times: dict[str, float] = {}
        t0 = time.monotonic()
        try:
            for name, backend in self.backends.items():
                if self.pid(name) is not None:
                    progress(f"{name}: already running (pid {self.pid(name)})")
                    continue
                pid = self._spawn(backend)
                started.append(name)
                progress(f"{name}: started (pid {pid}), log {self.log_path(name)}")
            deadline = t0 + self.config.start_timeout_s

            async def wait(name: str) -> None:
                await self._wait_healthy(self.backends[name], deadline)
                times[name] = time.monotonic() - t0
                progress(f"{name}: healthy after {times[name]:.1f}s")

            await asyncio.gather(*(wait(n) for n in self.backends))
        except BaseException:
            await self.down(started, progress=lambda _msg: None)
            raise
        return times

    async def down(self, names: Sequence[str] | None = None, progress: Progress = print) -> None:
        """Stop the named backends (all by default): SIGTERM, then SIGKILL after a grace.

        Clients of the other backends (vmalert, which writes to VictoriaMetrics and notifies
        Alertmanager) stop first, so they can flush to backends that still answer.
        """
        names = list(names if names is not None else self.backends)
        first = [n for n in names if n in self.backends and self.backends[n].stops_first]
        if first:
            await self._stop(first, progress)
        await self._stop([n for n in names if n not in first], progress)

    async def _stop(self, names: Sequence[str], progress: Progress) -> None:
        pids = {n: p for n in names if (p := self.pid(n)) is not None}
        for name, pid in pids.items():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            progress(f"{name}: stopping (pid {pid})")
        started = time.monotonic()
        killed: set[str] = set()
        while pids and time.monotonic() - started < KILL_WAIT_S + max(
            self.backends[n].stop_grace_s for n in pids
        ):
            for name, pid in pids.items():
                grace = self.backends[name].stop_grace_s
                if name not in killed and time.monotonic() - started > grace:
                    progress(f"{name}: did not stop in {grace:.0f}s, killing")
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(pid, signal.SIGKILL)
                    killed.add(name)
            pids = await self._wait_gone(pids, 0.1)
        for name in names:
            self._pid_file(name).unlink(missing_ok=True)

    async def _wait_gone(self, pids: dict[str, int], timeout_s: float) -> dict[str, int]:
        """Wait until the processes exit (reaping our own children); return those still alive."""
        deadline = time.monotonic() + timeout_s
        while pids and time.monotonic() < deadline:
            alive = {n: p for n, p in pids.items() if self.pid(n) is not None}
            for name, pid in pids.items():
                if name not in alive:
                    _reap(pid)  # it may have turned zombie since the last look
            pids = alive
            if pids:
                await asyncio.sleep(0.1)
        return pids

    async def status(self) -> list[BackendStatus]:
        """Return the state of every backend."""
        out: list[BackendStatus] = []
        async with aiohttp.ClientSession() as session:
            for name, backend in self.backends.items():
                pid = self.pid(name)
                ok, detail = await self._healthy(session, backend)
                out.append(
                    BackendStatus(
                        name=name,
                        running=pid is not None,
                        healthy=ok,
                        pid=pid,
                        url=backend.health_url(self.config),
                        version=backend.version if pid is not None else "",
                        detail=detail,
                        pinned=backend.version,
                    )
                )
        return out

    def running(self) -> bool:
        """Return whether every backend of this stack runs."""
        return all(self.pid(n) is not None for n in self.backends)
