"""Fault scenarios: a hung backend, a collector killed with SIGKILL, a full disk, and more.

Both read the dense Modbus meters of ``sentio.bench.meter`` (in their own process) through the
real collector and count every reading back in a real VictoriaMetrics by PromQL, on loopback
ports of their own, bounded in time.

- Hung backend: a TCP listener that accepts and never answers holds the metrics port for
  ``hang_s``; then VictoriaMetrics starts on that port. Every reading the collector read must be
  counted back, per device, and nothing dropped.
- kill -9: a collector with ``spool_fsync: true`` and no reachable backend spools what it reads
  and is killed at a random moment; started again on the same spool with VictoriaMetrics up, it
  must deliver every reading it had handed to the spool. It reports its counters after each
  spooled request (``python -m sentio.bench.faults child``), so the readings still in memory at
  the kill are known.
- Full disk: the spool on a 1 MiB tmpfs (mounted here; left out where mounting is not allowed),
  the backend down for 20 s, then up: every reading read is counted back or counted dropped.
- Hung plugin (``sentio.bench.hung_plugin``) and a flood of new MQTT topics through a real
  ``sentio run`` (``sentio.bench.flood``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from sentio.bench.ingest import _fields, _meter_port
from sentio.collectors.runtime import Collector
from sentio.config import SentioConfig, load
from sentio.errors import SentioError, StackError
from sentio.stack.backends import backends
from sentio.stack.install import install
from sentio.stack.ports import free_ports
from sentio.stack.probe import poll
from sentio.stack.query import promql, selector
from sentio.stack.supervisor import Stack, stop_child
from sentio.stack.versions import load_versions
from sentio.telemetry import Telemetry

Progress = Callable[[str], None]
SETTLE_TIMEOUT_S = 120.0
DRAIN_TIMEOUT_S = 300.0
STOP_TIMEOUT_S = 30.0
REPORT_EVERY_S = 0.05
TMPFS_BYTES = 1 << 20


class FaultsError(SentioError):
    """Raise when a fault scenario cannot run or measure."""


@dataclass(frozen=True)
class ScenarioReport:
    """What one scenario read, what came back, and every counter that says why not."""

    readings: int
    lost: int
    duplicates: int
    readings_per_s: float
    queue_dropped: int
    spool_dropped: int
    refused: int
    torn: int
    in_memory: int = 0
    per_device: dict[str, tuple[int, int]] = field(default_factory=dict)


def quiet_telemetry(service: str) -> Telemetry:
    """Return telemetry that records Sentio's own signals but exports none of them."""
    return Telemetry(
        Resource.create({"service.name": service}), MeterProvider(), TracerProvider(),
        LoggerProvider(),
    )  # fmt: skip


class BlackHole:
    """A TCP listener that accepts connections, reads what comes and never answers."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.accepted = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def _take(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.append(writer)
        with contextlib.suppress(ConnectionError):
            while await reader.read(1 << 16):
                pass

    async def __aenter__(self) -> BlackHole:
        self._server = await asyncio.start_server(self._take, "127.0.0.1", self.port)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in self._writers:
            writer.close()
        await self._server.wait_closed()


def scenario_config(
    work: Path, port: int, meter_port: int, name: str, units: int, interval_s: float,
    *, fsync: bool = False,
) -> SentioConfig:  # fmt: skip
    """Return a config reading ``units`` meters every ``interval_s`` into the port ``port``."""
    return SentioConfig.model_validate(
        {
            "service": {"name": "sentio-bench-faults", "instance_id": name},
            "stack": {"data_dir": str(work / "stack"), "start_timeout_s": 120,
                      "victoriametrics": {"port": port}},
            "collector": {"flush_interval_s": 0.5, "spool_dir": str(work / "spool"),
                          "spool_fsync": fsync, "backoff_initial_s": 0.5, "backoff_max_s": 5},
            "connectors": [
                {
                    "name": name,
                    "type": "modbus",
                    "poll_interval_s": interval_s,
                    "config": {
                        "connection": {"host": "127.0.0.1", "port": meter_port, "timeout_s": 2},
                        "devices": [
                            {"name": f"meter-{unit}", "unit_id": unit, "fields": _fields()}
                            for unit in range(1, units + 1)
                        ],
                    },
                }
            ],
        }
    )  # fmt: skip


def _start_meters(units: int, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sentio.bench.meter", "--units", str(units)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        return proc, _meter_port(proc, log)
    except BaseException:
        stop_child(proc, STOP_TIMEOUT_S)
        raise


@contextlib.asynccontextmanager
async def meters(units: int, work: Path) -> AsyncIterator[int]:
    """Run the meter simulator in its own process; yield its port."""
    proc, port = await asyncio.to_thread(_start_meters, units, work / "meter.log")
    try:
        yield port
    finally:
        await asyncio.to_thread(stop_child, proc, STOP_TIMEOUT_S)


@contextlib.asynccontextmanager
async def victoriametrics(config: SentioConfig, progress: Progress) -> AsyncIterator[Stack]:
    """Install (once) and run VictoriaMetrics alone under the config's data dir and port."""
    backend = backends(load_versions())["victoriametrics"]
    await asyncio.to_thread(install, [backend], config.stack.bin_dir, progress)
    stack = Stack(config.stack, {"victoriametrics": backend})
    await stack.up(progress)
    try:
        yield stack
    finally:
        await stack.down(progress=progress)


async def count_by_device(config: SentioConfig, instance: str, expected: int) -> dict[str, int]:
    """Return the samples of ``instance`` per device once the total stops changing."""
    query = f"sum by (device) (count_over_time({selector('', {'instance': instance})}[6h]))"
    last: dict[str, int] = {}
    stable = 0
    async with aiohttp.ClientSession() as session:

        async def settled() -> dict[str, int] | None:
            nonlocal last, stable
            result = await promql(session, config.query_url(), query)
            counts = {r["metric"].get("device", ""): int(float(r["value"][1])) for r in result}
            stable = stable + 1 if counts == last and counts else 0
            last = counts
            done = sum(counts.values()) >= expected or stable >= 5
            return counts if done else None

        try:
            return await poll(settled, SETTLE_TIMEOUT_S, f"{expected} samples", interval_s=1.0)
        except StackError:
            return last


async def _drain(collector: Collector) -> None:
    async def empty() -> bool | None:
        return True if not len(collector.spool) and not collector.backend_down else None

    await poll(empty, DRAIN_TIMEOUT_S, "the spool replayed", interval_s=0.2)


def _report(
    collector: Collector, counts: dict[str, int], seconds: float, expected: dict[str, int],
    in_memory: int = 0,
) -> ScenarioReport:  # fmt: skip
    per_device = {d: (n, counts.get(d, 0)) for d, n in sorted(expected.items())}
    return ScenarioReport(
        readings=sum(expected.values()),
        lost=sum(max(0, n - got) for n, got in per_device.values()),
        duplicates=sum(max(0, got - n) for n, got in per_device.values()),
        readings_per_s=round(collector.accepted / seconds, 1) if seconds else 0.0,
        queue_dropped=collector.dropped,
        spool_dropped=collector.spool.dropped,
        refused=collector.refused_readings,
        torn=collector.spool.torn,
        in_memory=in_memory,
        per_device=per_device,
    )


async def hung_backend(
    work: Path, *, hang_s: float = 120.0, after_s: float = 10.0, units: int = 12,
    interval_s: float = 0.2, progress: Progress = lambda _m: None,
) -> ScenarioReport:  # fmt: skip
    """Read through ``hang_s`` of a hung backend, then VictoriaMetrics; count every reading back."""
    name = f"faults-hung-{uuid.uuid4().hex[:8]}"
    [port] = free_ports(1)
    async with meters(units, work) as meter_port:
        config = scenario_config(work, port, meter_port, name, units, interval_s)
        collector = Collector(config, quiet_telemetry("sentio-bench-faults"))
        started = time.monotonic()
        run = asyncio.create_task(collector.run())
        try:
            async with BlackHole(port) as hole:
                progress(f"hung backend: a listener that never answers on :{port} for {hang_s:g} s")
                await _sleep_unless_done(run, hang_s)
            progress(f"hung backend: {hole.accepted} connection(s) hung; starting VictoriaMetrics")
            async with victoriametrics(config, progress):
                await _sleep_unless_done(run, after_s)
                await _drain(collector)
                collector.stopping.set()
                await run
                seconds = time.monotonic() - started
                expected = dict(collector.accepted_by_device)
                progress(f"hung backend: {collector.accepted} readings read; counting them back")
                counts = await count_by_device(config, name, sum(expected.values()))
        finally:
            collector.stopping.set()
            await asyncio.gather(run, return_exceptions=True)
    return _report(collector, counts, seconds, expected)


@dataclass(frozen=True)
class DiskFullReport:
    """A full spool disk: what was read, what came back, what was counted as dropped."""

    readings: int
    landed: int
    dropped: int
    dropped_requests: int
    lost: int  # read, neither landed nor counted as dropped: must be 0
    spool_left_bytes: int


async def diskfull(
    work: Path, spool_dir: Path, *, down_s: float = 20.0, after_s: float = 3.0, units: int = 3,
    interval_s: float = 0.2, queue_limit: int = 20_000, progress: Progress = lambda _m: None,
) -> DiskFullReport:  # fmt: skip
    """Spool onto ``spool_dir`` (a small filesystem) while the backend is down, then bring it up.

    Every reading read must be counted back by PromQL or counted as dropped.
    """
    name = f"faults-disk-{uuid.uuid4().hex[:8]}"
    [port] = free_ports(1)  # nothing listens there until VictoriaMetrics starts
    async with meters(units, work) as meter_port:
        base = scenario_config(work, port, meter_port, name, units, interval_s)
        collector_cfg = base.collector.model_copy(
            update={"spool_dir": spool_dir, "spool_max_bytes": 256 << 20,
                    "queue_limit": queue_limit, "max_batch": 1000}
        )  # fmt: skip
        config = base.model_copy(update={"collector": collector_cfg})
        collector = Collector(config, quiet_telemetry("sentio-bench-faults"))
        run = asyncio.create_task(collector.run())
        try:
            progress(f"full disk: backend down for {down_s:g} s, spool on {spool_dir}")
            await _sleep_unless_done(run, down_s)
            async with victoriametrics(config, progress):
                await _sleep_unless_done(run, after_s)
                await _drain(collector)
                collector.stopping.set()
                await run
                readings = collector.accepted
                dropped, requests = collector.drops()
                counts = await count_by_device(config, name, readings - dropped)
        finally:
            collector.stopping.set()
            await asyncio.gather(run, return_exceptions=True)
    landed = sum(counts.values())
    return DiskFullReport(
        readings,
        landed,
        dropped,
        requests,
        max(0, readings - landed - dropped),
        collector.spool.size_bytes,
    )


@contextlib.contextmanager
def small_disk(folder: Path, size: int = TMPFS_BYTES) -> Iterator[Path | None]:
    """Mount a tmpfs of ``size`` bytes on ``folder``; yield None where that is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True, check=False,
    ).returncode == 0  # fmt: skip
    if not mounted:
        yield None
        return
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, check=False)


async def _sleep_unless_done(task: asyncio.Task[None], seconds: float) -> None:
    """Let a fault last ``seconds``; raise at once if the collector ends early."""
    await asyncio.wait([task], timeout=seconds)
    if task.done():
        task.result()
        raise FaultsError("the collector stopped during the scenario")


class ReportingCollector(Collector):
    """A collector that prints its counters as JSON lines, so a kill leaves them behind.

    A line follows each spooled request and every ``REPORT_EVERY_S``: the last one before the
    kill tells what was read, spooled and still in memory.
    """

    def report(self) -> None:
        """Print the counters as one JSON line."""
        line = {"accepted": self.accepted, "spooled": self.spooled, "sent": self.sent}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()

    def __init__(self, config: SentioConfig, telemetry: Telemetry) -> None:
        super().__init__(config, telemetry)
        self.exporter.on_spooled = self.report

    async def _report_often(self) -> None:
        while not self.stopping.is_set():
            self.report()
            await self._wait(REPORT_EVERY_S)

    async def run(self) -> None:
        """Run the collector, reporting its counters until it stops."""
        reporter = asyncio.create_task(self._report_often())
        try:
            await super().run()
        finally:
            reporter.cancel()
            await asyncio.gather(reporter, return_exceptions=True)


async def _child(config_path: Path) -> None:
    config = load(config_path)
    collector = ReportingCollector(config, quiet_telemetry("sentio-bench-faults-child"))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, collector.stopping.set)
    await collector.run()


def _last_report(path: Path) -> dict[str, int]:
    last: dict[str, int] = {}
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            last = json.loads(line)
    return last


async def kill9(
    work: Path, *, units: int = 12, interval_s: float = 0.2, min_spooled: int = 2000,
    kill_within_s: tuple[float, float] = (0.5, 3.0), rng: random.Random | None = None,
    progress: Progress = lambda _m: None,
) -> ScenarioReport:  # fmt: skip
    """Kill a spooling collector at a random moment; restart it; count what it had spooled."""
    name = f"faults-kill9-{uuid.uuid4().hex[:8]}"
    [port] = free_ports(1)  # nothing listens there until VictoriaMetrics starts after the kill
    rng = rng or random.Random()
    async with meters(units, work) as meter_port:
        config = scenario_config(work, port, meter_port, name, units, interval_s, fsync=True)
        cfg_path = work / "kill9.yaml"
        cfg_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        reports = work / "kill9-counters.jsonl"
        with reports.open("wb") as out, (work / "kill9.log").open("wb") as log:
            child = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sentio.bench.faults", "child", str(cfg_path),
                stdout=out, stderr=log,
            )  # fmt: skip
        started = time.monotonic()
        try:

            async def spooling() -> bool | None:
                if child.returncode is not None:
                    tail = (work / "kill9.log").read_text(errors="replace")[-2000:]
                    raise FaultsError(f"the collector ended before the kill:\n{tail}")
                spooled = _last_report(reports).get("spooled", 0)
                return True if spooled >= min_spooled else None

            await poll(spooling, 120, f"{min_spooled} readings spooled", interval_s=0.1)
            await asyncio.sleep(rng.uniform(*kill_within_s))  # the random moment of the kill
            os.kill(child.pid, signal.SIGKILL)
        finally:
            if child.returncode is None:
                child.kill()
            await child.wait()
        seconds = time.monotonic() - started
        before = _last_report(reports)
    progress(f"kill -9: killed after {before.get('spooled', 0)} readings spooled; restarting")
    restart = config.model_copy(update={"connectors": []})
    collector = Collector(restart, quiet_telemetry("sentio-bench-faults"))
    async with victoriametrics(config, progress):
        run = asyncio.create_task(collector.run())
        try:
            await _drain(collector)
        finally:
            collector.stopping.set()
            await asyncio.gather(run, return_exceptions=True)
        spooled = before.get("spooled", 0)
        counts = await count_by_device(config, name, spooled)
    got = sum(counts.values())
    return ScenarioReport(
        readings=spooled,
        lost=max(0, spooled - got),
        duplicates=max(0, got - spooled),
        readings_per_s=round(before.get("accepted", 0) / seconds, 1),
        queue_dropped=0,
        spool_dropped=collector.spool.dropped,
        refused=collector.refused_readings,
        torn=collector.spool.torn,
        in_memory=before.get("accepted", 0) - spooled - before.get("sent", 0),
        per_device={"": (spooled, got)},
    )


def main() -> None:
    """Run the child collector of the kill -9 scenario."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("role", choices=["child"])
    parser.add_argument("config", type=Path)
    args = parser.parse_args()
    asyncio.run(_child(args.config))


if __name__ == "__main__":
    main()


@dataclass(frozen=True)
class FaultsReport:
    """The figures ``sentio bench faults`` prints."""

    hung_backend_readings: int
    hung_backend_lost: int
    hung_backend_readings_per_s: float
    kill9_readings: int
    kill9_lost: int
    kill9_in_memory_at_kill: int
    fuzz_examples: int
    fuzz_crashes: int
    # None where a tmpfs cannot be mounted (not root, or no mount namespace of one's own)
    diskfull_readings: int | None
    diskfull_lost: int | None
    diskfull_dropped: int | None
    hung_plugin_detect_s: float  # a hung poll's start to device_up 0 in the collector's state
    flood_rss_mb: float  # peak RSS (VmHWM) of `sentio run` through the flood
    flood_rss_before_mb: float
    flood_topics: int
    flood_names_refused: int
    flood_messages_dropped: int
    flood_known_sent: int
    flood_known_landed: int
    flood_known_max_gap_s: float


def fuzz_all(examples: int, progress: Progress) -> tuple[int, int]:
    """Run every fuzz target; return the examples run and the targets that crashed."""
    from sentio.bench.fuzz import run_all as fuzz_targets

    report = fuzz_targets(examples, progress)
    return report.fuzz_examples, report.fuzz_crashes


async def run_all(
    work: Path, *, hang_s: float, units: int, examples: int, progress: Progress
) -> FaultsReport:
    """Run the fault scenarios and the fuzz targets."""
    from sentio.bench.flood import flood
    from sentio.bench.hung_plugin import hung_plugin

    for part in ("hung", "kill9", "disk", "plugin", "flood"):
        (work / part).mkdir(parents=True, exist_ok=True)
    hung = await hung_backend(work / "hung", hang_s=hang_s, units=units, progress=progress)
    progress(f"hung backend: {hung}")
    killed = await kill9(work / "kill9", units=units, progress=progress)
    progress(f"kill -9: {killed}")
    disk: DiskFullReport | None = None
    with small_disk(work / "small-disk") as mounted:
        if mounted is None:
            progress("full disk: left out, a tmpfs cannot be mounted here (needs root)")
        else:
            disk = await diskfull(work / "disk", mounted / "spool", progress=progress)
            progress(f"full disk: {disk}")
    detect_s = await hung_plugin(work / "plugin")
    progress(f"hung plugin: device down {detect_s} s after its poll hung")
    flooded = await flood(work / "flood", progress=progress)
    progress(f"flood: {flooded}")
    ran, crashes = await asyncio.to_thread(fuzz_all, examples, progress)
    return FaultsReport(
        hung_backend_readings=hung.readings,
        hung_backend_lost=hung.lost + hung.queue_dropped + hung.spool_dropped + hung.refused,
        hung_backend_readings_per_s=hung.readings_per_s,
        kill9_readings=killed.readings,
        kill9_lost=killed.lost,
        kill9_in_memory_at_kill=killed.in_memory,
        fuzz_examples=ran,
        fuzz_crashes=crashes,
        diskfull_readings=disk.readings if disk else None,
        diskfull_lost=disk.lost if disk else None,
        diskfull_dropped=disk.dropped if disk else None,
        hung_plugin_detect_s=detect_s,
        flood_rss_mb=flooded.rss_peak_mb,
        flood_rss_before_mb=flooded.rss_before_mb,
        flood_topics=flooded.topics,
        flood_names_refused=flooded.names_refused,
        flood_messages_dropped=flooded.messages_dropped,
        flood_known_sent=flooded.known_sent,
        flood_known_landed=flooded.known_landed,
        flood_known_max_gap_s=flooded.known_max_gap_s,
    )
