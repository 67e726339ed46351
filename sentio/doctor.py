"""`sentio doctor`: one line per thing a new user trips over, each ok or what to do."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import aiohttp

from sentio.config import ConfigFileError, SentioConfig, load
from sentio.stack.backends import Backend, backends
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions

TIMEOUT = aiohttp.ClientTimeout(total=3)
APP_VERSION = re.compile(r'app_version="([^"]+)"')
JAEGER_VERSION = re.compile(r'target_info\{[^}]*service_version="([^"]+)"')
MAX_SKEW_S = 2.0
SPOOL_WARN_FRACTION = 0.5


class Level(Enum):
    """How a check came out."""

    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"


@dataclass(frozen=True)
class Check:
    """One line of the report: what was checked, how it came out, and what to do."""

    name: str
    level: Level
    detail: str

    def __str__(self) -> str:
        return f"{self.level.value:4}  {self.name:24} {self.detail}"


def listeners() -> dict[int, int]:
    """Return the inode of every listening TCP socket on this host, by port."""
    found: dict[int, int] = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text(encoding="ascii").splitlines()[1:]:
                fields = line.split()
                if fields[3] == "0A":  # LISTEN
                    found[int(fields[1].rsplit(":", 1)[1], 16)] = int(fields[9])
    return found


def owner(inode: int) -> str:
    """Return `pid N (name)` of the process holding socket ``inode``, or `another user`."""
    target = f"socket:[{inode}]"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (proc / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if str(fd.readlink()) == target:
                        name = (proc / "comm").read_text(encoding="utf-8").strip()
                        return f"pid {proc.name} ({name})"
    return "a process this user cannot see"


def _why(exc: BaseException) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"nothing answers at {exc.host}:{exc.port}"
    if isinstance(exc, TimeoutError):
        return f"no answer within {TIMEOUT.total:.0f} s"
    return f"{type(exc).__name__}: {exc}"


async def _text(session: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with session.get(url, timeout=TIMEOUT) as resp:
        return resp.status, await resp.text()


async def running_version(
    session: aiohttp.ClientSession, stack: SentioConfig, backend: Backend
) -> str:
    """Return the version the running backend reports about itself, or '' if it does not say."""
    s = stack.stack
    if backend.name == "alertmanager":
        _, body = await _text(session, f"{s.url('alertmanager')}/api/v2/status")
        info = json.loads(body)
        info = info.get("versionInfo") if isinstance(info, dict) else None
        return str(info.get("version", "")) if isinstance(info, dict) else ""
    if backend.name == "loki-api":
        _, body = await _text(session, f"{s.url('loki-api')}/loki/api/v1/status/buildinfo")
        return str(json.loads(body).get("revision", ""))
    if backend.name == "jaeger":
        _, body = await _text(session, f"http://{s.host}:{s.jaeger.metrics_port}/metrics")
        match = JAEGER_VERSION.search(body)
    else:
        _, body = await _text(session, f"http://{s.host}:{backend.port(s)}/metrics")
        match = APP_VERSION.search(body)
    return match[1] if match else ""


async def check_backend(
    session: aiohttp.ClientSession, config: SentioConfig, stack: Stack, backend: Backend
) -> list[Check]:
    """Check one backend: healthy, its version, and who holds its ports when it is not up."""
    s = config.stack
    url = backend.health_url(s)
    try:
        status, body = await _text(session, url)
    except (aiohttp.ClientError, TimeoutError) as exc:
        status, body = 0, _why(exc)
    if status == 200:
        version = ""  # a backend that is healthy but will not say its version is still healthy
        with contextlib.suppress(aiohttp.ClientError, TimeoutError, ValueError):
            version = await running_version(session, config, backend)
        return [Check(backend.name, Level.OK, f"healthy at {url}, {version or 'version unknown'}")]
    checks = [
        Check(
            backend.name,
            Level.FAIL,
            f"not healthy at {url} ({body.strip()[:120] or f'HTTP {status}'}); "
            + (
                f"it runs (pid {stack.pid(backend.name)}): see `sentio stack logs {backend.name}`"
                if stack.pid(backend.name)
                else "start it with `sentio stack up`"
            ),
        )
    ]
    held = listeners()
    for port in backend.ports(s):
        if port in held and stack.pid(backend.name) is None:
            checks.append(
                Check(
                    f"port {port}",
                    Level.FAIL,
                    f"{backend.name}'s port is in use by {owner(held[port])}: stop it or set "
                    "another port under `stack:`",
                )
            )
    return checks


async def check_endpoint(
    session: aiohttp.ClientSession, config: SentioConfig, signal: str
) -> Check:
    """Post an empty OTLP request to ``signal``'s endpoint: a backend that takes it is ready."""
    url = config.endpoint(signal)
    headers = {"Content-Type": "application/x-protobuf", **config.headers(signal)}
    name = f"otlp {signal}"
    try:
        async with session.post(url, data=b"", headers=headers, timeout=TIMEOUT) as resp:
            if resp.status < 300:
                return Check(name, Level.OK, f"{url} accepts OTLP/HTTP")
            detail = f"HTTP {resp.status}: {(await resp.text())[:120]}"
    except (aiohttp.ClientError, TimeoutError) as exc:
        detail = _why(exc)
    return Check(
        name,
        Level.FAIL,
        f"{url} refused an empty OTLP request ({detail}); check `telemetry.{signal}.endpoint`",
    )


async def check_clock(session: aiohttp.ClientSession, config: SentioConfig) -> Check:
    """Compare this host's clock with VictoriaMetrics'; a skew misplaces every sample."""
    try:
        before = time.time()
        _, body = await _text(session, f"{config.query_url()}/api/v1/query?query=time()")
        after = time.time()
        remote = float(json.loads(body)["data"]["result"][0]["value"][1])
    except (aiohttp.ClientError, TimeoutError) as exc:
        return Check("clock", Level.WARN, f"cannot read VictoriaMetrics' clock ({_why(exc)})")
    except (ValueError, KeyError, IndexError) as exc:
        return Check("clock", Level.WARN, f"VictoriaMetrics' time() answer is odd ({exc!r})")
    # time() has whole seconds: allow for that and for the request's own duration
    skew = remote - (before + after) / 2
    if abs(skew) > MAX_SKEW_S + 1 + (after - before):
        return Check(
            "clock",
            Level.FAIL,
            f"{skew:+.1f} s against VictoriaMetrics: synchronise both clocks (NTP)",
        )
    return Check("clock", Level.OK, f"within {MAX_SKEW_S:.0f} s of VictoriaMetrics'")


def spool_check(config: SentioConfig) -> Check:
    """Report how much the collector's spool holds."""
    folder = config.collector.spool_dir or config.stack.data_dir / "spool"
    segments = list(folder.glob("*.seg")) if folder.is_dir() else []
    size = 0
    for segment in segments:
        with contextlib.suppress(OSError):
            size += segment.stat().st_size
    limit = config.collector.spool_max_bytes
    detail = f"{size / 1e6:.1f} MB in {len(segments)} segment(s) at {folder}"
    detail += f" (limit {limit / 1e6:.0f} MB)"
    if size > SPOOL_WARN_FRACTION * limit:
        return Check(
            "spool", Level.WARN, f"{detail}: a backend is not taking what the collector reads"
        )
    return Check("spool", Level.OK, detail)


def config_check(path: Path | None) -> tuple[Check, SentioConfig | None]:
    """Load the config; on failure, name each problem."""
    if path is None:
        return Check("config", Level.OK, "no file given: the defaults"), SentioConfig()
    try:
        config = load(path)
    except ConfigFileError as exc:
        return Check("config", Level.FAIL, "; ".join(map(str, exc.issues))), None
    return Check("config", Level.OK, f"{path} is valid"), config


async def diagnose(config: SentioConfig) -> list[Check]:
    """Run every check that needs the network, concurrently; return them in a stable order."""
    every = backends(load_versions())
    stack = Stack(config.stack, every, config.stack.bin_dir)
    async with aiohttp.ClientSession() as session:
        per_backend = await asyncio.gather(
            *(check_backend(session, config, stack, b) for b in every.values())
        )
        singles = await asyncio.gather(
            *(check_endpoint(session, config, s) for s in ("metrics", "logs", "traces")),
            check_clock(session, config),
        )
    return [*(c for group in per_backend for c in group), *singles, spool_check(config)]


def run(path: Path | None) -> Iterator[Check]:
    """Yield every check of the config at ``path``."""
    first, config = config_check(path)
    yield first
    if config is not None:
        yield from asyncio.run(diagnose(config))
