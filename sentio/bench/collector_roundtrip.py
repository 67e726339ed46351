"""A device's value change to PromQL through the collector's own path, at its default config.

A simulated pump serves Modbus to a real ``sentio run`` process (the user's defaults: its poll
interval, flush interval and tracing, unless told otherwise); the bench changes the pump's
state and times two spans until VictoriaMetrics answers the new value: from the change (which
includes waiting for the next poll, up to one poll interval) and from the first poll that read
it (the collector's encode, flush and export, and VictoriaMetrics' ingest to searchable).
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from sentio.bench.roundtrip import percentile
from sentio.bench.silent import processes
from sentio.config import SentioConfig
from sentio.errors import SentioError
from sentio.simulators.pump import Pump, PumpServer
from sentio.stack.probe import poll
from sentio.stack.query import promql

Progress = Callable[[str], None]
METRIC = "motor_current"
FIELDS = [{"name": METRIC, "table": "input", "address": 4, "type": "float32", "unit": "A"}]
QUERY_EVERY_S = 0.05
START_TIMEOUT_S = 120.0


class CollectorRoundTripError(SentioError):
    """Raise when the collector never exported, or a change never became queryable."""


class TimedPump(Pump):
    """A noiseless pump that records when it first serves its values after each change."""

    def __init__(self) -> None:
        super().__init__(noise=False)
        self.changed_at: float | None = None
        self.first_read_at: float | None = None

    def toggle(self) -> float:
        """Start or stop the pump; return the motor current it serves from now on."""
        self.running = not self.running
        self.advance(0.0)
        self.changed_at, self.first_read_at = time.time(), None
        return self.values[METRIC]

    def input_registers(self) -> list[int]:
        """Return the input registers, noting the first read since the last change."""
        if self.changed_at is not None and self.first_read_at is None:
            self.first_read_at = time.time()
        return super().input_registers()


@dataclass(frozen=True)
class Change:
    """One change: seconds from it, and from the poll that first read it, to PromQL."""

    change_s: float
    poll_s: float


@dataclass(frozen=True)
class CollectorRoundTripReport:
    """Percentiles of the collector-path round trip, and the settings it ran at."""

    samples: int
    poll_interval_s: float
    flush_interval_s: float
    change_p50_s: float
    change_p99_s: float
    change_max_s: float
    poll_p50_s: float
    poll_p99_s: float
    poll_max_s: float


def collector_config(
    base: SentioConfig, port: int, workdir: Path, name: str, poll_interval_s: float | None
) -> SentioConfig:
    """Return ``base`` with one Modbus pump entry, its own spool and instance id."""
    data = base.model_dump(mode="json", exclude_none=True)
    entry: dict[str, object] = {
        "name": name,
        "type": "modbus",
        "config": {
            "connection": {"type": "tcp", "host": "127.0.0.1", "port": port},
            "devices": [{"name": f"{name}-pump", "unit_id": 1, "fields": FIELDS}],
        },
    }
    if poll_interval_s is not None:
        entry["poll_interval_s"] = poll_interval_s
    data["connectors"] = [entry]
    data["collector"] = {**data.get("collector", {}), "spool_dir": str(workdir / "spool")}
    data["service"] = {**data["service"], "instance_id": name}
    return SentioConfig.model_validate(data)


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:]


async def _latest(session: aiohttp.ClientSession, url: str, query: str) -> float | None:
    got = await promql(session, url, query)
    return float(got[0]["value"][1]) if got else None


async def _measure(
    config: SentioConfig, pump: TimedPump, count: int, timeout_s: float, progress: Progress,
    proc: subprocess.Popen[bytes], log: Path,
) -> list[Change]:  # fmt: skip
    url, name = config.query_url(), config.connectors[0].name
    query = f'{{__name__=~"{METRIC}.*", instance="{name}"}}'
    interval = config.connectors[0].poll_interval_s
    rng = random.Random(0)
    changes: list[Change] = []
    async with aiohttp.ClientSession() as session:

        async def exported() -> bool | None:
            if proc.poll() is not None:
                tail = _tail(log)
                raise CollectorRoundTripError(f"sentio run exited before it exported:\n{tail}")
            return True if await _latest(session, url, query) is not None else None

        await poll(exported, START_TIMEOUT_S, f"the pump's {METRIC}", 0.5)
        for index in range(count):
            # a change at a random phase of the poll cycle, as a real one would be
            await asyncio.sleep(rng.uniform(0.0, interval))
            expected = pump.toggle()
            deadline = time.monotonic() + timeout_s
            while await _latest(session, url, query) != expected:
                if time.monotonic() > deadline:
                    raise CollectorRoundTripError(
                        f"change {index + 1}: {METRIC}={expected} not returned by PromQL within "
                        f"{timeout_s:.0f} s of the change"
                    )
                await asyncio.sleep(QUERY_EVERY_S)
            seen = time.time()
            if pump.changed_at is None or pump.first_read_at is None:
                raise CollectorRoundTripError(f"change {index + 1} was queryable but never read")
            changes.append(Change(seen - pump.changed_at, seen - pump.first_read_at))
            if (index + 1) % 5 == 0:
                progress(f"collector path: {index + 1}/{count} changes")
    return changes


def summarize(changes: list[Change], config: SentioConfig) -> CollectorRoundTripReport:
    """Return the percentiles of ``changes``."""
    ch, po = [c.change_s for c in changes], [c.poll_s for c in changes]
    return CollectorRoundTripReport(
        samples=len(changes),
        poll_interval_s=config.connectors[0].poll_interval_s,
        flush_interval_s=config.collector.flush_interval_s,
        change_p50_s=round(percentile(ch, 0.5), 3),
        change_p99_s=round(percentile(ch, 0.99), 3),
        change_max_s=round(max(ch), 3),
        poll_p50_s=round(percentile(po, 0.5), 3),
        poll_p99_s=round(percentile(po, 0.99), 3),
        poll_max_s=round(max(po), 3),
    )


async def measure(
    base: SentioConfig, count: int, poll_interval_s: float | None, progress: Progress
) -> CollectorRoundTripReport:
    """Run a pump and ``sentio run``; time ``count`` value changes to PromQL."""
    pump = TimedPump()
    server = PumpServer({1: pump})
    await server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="sentio-rt-") as tmp:
            workdir = Path(tmp)
            name = f"roundtrip-{uuid.uuid4().hex[:8]}"
            config = collector_config(base, server.port, workdir, name, poll_interval_s)
            timeout_s = 2 * config.connectors[0].poll_interval_s + 60.0
            with processes({"collector": config}, workdir) as (procs, logs):
                changes = await _measure(
                    config, pump, count, timeout_s, progress, procs["collector"], logs["collector"]
                )
    finally:
        await server.stop()
    return summarize(changes, config)
