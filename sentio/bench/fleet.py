"""A fleet: many small Modbus devices polled every second by one real `sentio run` collector.

The devices (``sentio.bench.fleet_sim``, in a process of their own so their CPU is not counted)
are ``--devices`` (port, unit id) pairs, ``PER_CONNECTION`` unit ids per TCP connection, one
connector instance per connection. Each poll reads ``REGISTERS`` holding registers in one request
and yields as many readings; the collector exports them into a VictoriaMetrics of the benchmark's
own on free loopback ports, and its spans and logs into a sink here that accepts and counts them.
Startup (``warmup_s``) is left out; the collector's CPU (user + system, /proc) and the readings
whose timestamps fall in the measured window give ``readings_per_s`` and ``cpu_s_per_100k``;
``collector_rss_mb`` is the collector's peak RSS (VmHWM, startup included) at the window's end,
``collector_rss_end_mb`` its RSS then.

How it counts, without looking inside the collector:

- ``dropped``: register 0 of a device counts the reads the simulator served it (1, 2, ...), so
  the reading of it says which poll a sample came from. Per device, by PromQL, the highest
  counter that landed and the samples that landed; with the simulator's own count of reads at
  the end, a device should hold ``REGISTERS x max(highest landed, served - 1)`` samples (the one
  allowed unlanded poll is the one in flight when the collector was stopped). ``dropped`` adds
  the shortfall of every device, ``duplicates`` the excess.
- ``poll_lag``: the runtime polls each device on fixed ticks one interval apart (Telegraf, on
  its round interval, too). For every two consecutive polls of a device (counters k and k + 1,
  exported raw from VictoriaMetrics) the lag is the gap between their readings' timestamps
  minus the interval: how much later poll k + 1 came than one interval after poll k (the
  readings are stamped when the response is decoded, so a slower response counts as lateness
  too; millisecond precision). A skipped tick makes a gap of two intervals, a lag of one.
  Pairs whose first poll falls in the measured window are kept; a dropped poll leaves a pair
  out rather than counting as a late one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import pstats
import subprocess
import sys
import time
import uuid
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from sentio.bench.faults import victoriametrics
from sentio.bench.fleet_sim import REGISTERS, SCALE
from sentio.bench.ingest import process, readings_selector
from sentio.bench.procstat import cpu_seconds, peak_rss_mb
from sentio.bench.telegraf import FleetConnection, FleetField, render_fleet_config
from sentio.config import SentioConfig
from sentio.errors import SentioError
from sentio.stack.ports import free_ports
from sentio.stack.supervisor import stop_child

Progress = Callable[[str], None]
PER_CONNECTION = 100
START_TIMEOUT_S = 120.0
SETTLE_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
PROGRESS_EVERY_S = 15.0
SEQ = "seq"


class FleetError(SentioError):
    """Raise when the fleet benchmark cannot run or measure."""


@dataclass(frozen=True)
class FleetReport:
    """The figures ``sentio bench fleet`` prints."""

    devices: int
    connections: int
    poll_interval_s: float
    window_s: float
    readings_per_s: float
    expected_readings_per_s: float
    poll_lag_p50_s: float
    poll_lag_p99_s: float
    poll_lag_max_s: float
    collector_rss_mb: float
    collector_rss_end_mb: float
    collector_cores: float
    cpu_s_per_100k: float
    readings: int
    dropped: int
    duplicates: int
    devices_landed: int
    spans_per_poll: float
    reader: str = "sentio"
    rss_per_device_kib: float = 0.0  # peak RSS over devices
    simulator_cores: float = 0.0  # not in the reader's figures: is the fleet itself keeping up?


def split(devices: int, per_connection: int = PER_CONNECTION) -> list[int]:
    """Return how many unit ids each connection serves: ``per_connection`` each, the rest last."""
    full, rest = divmod(devices, per_connection)
    return [per_connection] * full + ([rest] if rest else [])


def device_name(connection: int, unit: int) -> str:
    """Return the name of the device at ``unit`` on connection ``connection``."""
    return f"c{connection:03d}u{unit:03d}"


def fields() -> list[dict[str, object]]:
    """Return the fields of one device: its read counter, then int16 values."""
    values = [
        {"name": f"v{i:02d}", "table": "holding", "address": i, "type": "int16", "scale": SCALE}
        for i in range(1, REGISTERS)
    ]
    return [{"name": SEQ, "table": "holding", "address": 0, "type": "uint16"}, *values]


def collector_config(
    work: Path, vm_port: int, sink_port: int, ports: list[int], units: list[int], run_id: str,
    interval_s: float,
) -> dict[str, Any]:  # fmt: skip
    """Return the collector's config: one Modbus instance per connection, defaults elsewhere."""
    sink = f"http://127.0.0.1:{sink_port}"
    return {
        "service": {"name": "sentio-bench-fleet", "instance_id": run_id},
        "stack": {"data_dir": str(work / "stack"), "victoriametrics": {"port": vm_port}},
        "telemetry": {"traces": {"endpoint": f"{sink}/v1/traces"},
                      "logs": {"endpoint": f"{sink}/v1/logs"}},
        "collector": {"spool_dir": str(work / "spool")},
        "connectors": [
            {
                "name": f"fleet-{run_id}-{c:03d}",
                "type": "modbus",
                "poll_interval_s": interval_s,
                "config": {
                    "connection": {"host": "127.0.0.1", "port": port, "timeout_s": 5},
                    "devices": [
                        {"name": device_name(c, u), "unit_id": u, "fields": fields()}
                        for u in range(1, count + 1)
                    ],
                },
            }
            for c, (port, count) in enumerate(zip(ports, units, strict=True))
        ],
    }  # fmt: skip


def served_by_device(reads: Mapping[str, int], ports: list[int]) -> dict[str, int]:
    """Map the simulator's reads per ``PORT/UNIT`` to reads per device name."""
    index = {port: c for c, port in enumerate(ports)}
    out: dict[str, int] = {}
    for key, count in reads.items():
        port, unit = key.split("/")
        out[device_name(index[int(port)], int(unit))] = count
    return out


def shortfall(
    landed: Mapping[str, int], highest: Mapping[str, int], served: Mapping[str, int],
    per_poll: int = REGISTERS,
) -> tuple[int, int]:  # fmt: skip
    """Return (dropped, duplicates) summed over devices, as the module docstring defines them."""
    dropped = duplicates = 0
    for device in landed.keys() | highest.keys() | served.keys():
        polls = max(highest.get(device, 0), served.get(device, 0) - 1)
        missing = per_poll * polls - landed.get(device, 0)
        dropped += max(0, missing)
        duplicates += max(0, -missing)
    return dropped, duplicates


def poll_lags(
    series: Iterable[tuple[Iterable[float], Iterable[float]]], interval_s: float,
    window: tuple[float, float],
) -> list[float]:  # fmt: skip
    """Return the lag of every poll after another one, from (counters, timestamps) per device.

    Timestamps are unix seconds; a pair counts when its first poll started within ``window``.
    """
    lags: list[float] = []
    start, end = window
    for counters, stamps in series:
        at = dict(zip((int(c) for c in counters), stamps, strict=True))
        for seq, t in at.items():
            nxt = at.get(seq + 1)
            if nxt is not None and start <= t <= end:
                lags.append(nxt - t - interval_s)
    return lags


def percentile(values: list[float], q: float) -> float:
    """Return the nearest-rank ``q`` quantile (0..1) of ``values``; NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


class SinkRejected(FleetError):
    """Raise when a request to the sink is not an OTLP protobuf export; it answers 400."""


MAX_BODY = 64 << 20
_WBITS = {"gzip": 31, "x-gzip": 31, "deflate": 15}


def _inflated(body: bytes, encoding: str) -> bytes:
    """Return ``body`` decompressed per its Content-Encoding, at most MAX_BODY bytes."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding not in _WBITS:
        raise SinkRejected(f"Content-Encoding {encoding!r} is not gzip, deflate or identity")
    inflater = zlib.decompressobj(_WBITS[encoding])
    try:
        out = inflater.decompress(body, MAX_BODY + 1)
    except zlib.error as exc:
        raise SinkRejected(f"the body is not {encoding} ({len(body)} bytes): {exc}") from exc
    if len(out) > MAX_BODY or inflater.unconsumed_tail:
        raise SinkRejected(f"the body inflates to more than {MAX_BODY} bytes")
    if not inflater.eof:
        raise SinkRejected(f"the {encoding} body ends early ({len(body)} bytes)")
    return out


def decode_export(kind: str, body: bytes, encoding: str = "identity") -> int:
    """Return the spans (``traces``) or log records (``logs``) of an OTLP/HTTP protobuf body.

    Raise SinkRejected naming what is wrong with anything else; never another error.
    """
    data = _inflated(body, encoding)
    message = ExportTraceServiceRequest() if kind == "traces" else ExportLogsServiceRequest()
    try:
        message.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise SinkRejected(f"not an OTLP {kind} export ({len(data)} bytes): {exc}") from exc
    if isinstance(message, ExportTraceServiceRequest):
        return sum(len(scope.spans) for rs in message.resource_spans for scope in rs.scope_spans)
    return sum(len(scope.log_records) for rl in message.resource_logs for scope in rl.scope_logs)


class Sink:
    """An OTLP/HTTP receiver for the collector's spans and logs: accept, count, keep nothing.

    A body that is not an OTLP protobuf export (or cannot be read) gets a 400 naming why.
    """

    def __init__(self) -> None:
        self.spans = 0
        self.logs = 0
        self.requests = 0
        self.rejected = 0
        self._runner: web.AppRunner | None = None

    async def _decoded(self, request: web.Request, kind: str) -> int:
        try:
            body = await request.read()
        except (aiohttp.ClientPayloadError, HttpProcessingError) as exc:
            raise SinkRejected(f"cannot read the {kind} request body: {exc}") from exc
        return decode_export(kind, body, request.headers.get("Content-Encoding", "identity"))

    async def _receive(self, request: web.Request, kind: str) -> web.Response:
        try:
            count = await self._decoded(request, kind)
        except SinkRejected as exc:
            self.rejected += 1
            return web.Response(status=400, text=str(exc))
        self.requests += 1
        if kind == "traces":
            self.spans += count
        else:
            self.logs += count
        return web.Response(body=b"", content_type="application/x-protobuf")

    async def _traces(self, request: web.Request) -> web.Response:
        return await self._receive(request, "traces")

    async def _logs(self, request: web.Request) -> web.Response:
        return await self._receive(request, "logs")

    @contextlib.asynccontextmanager
    async def serving(self, port: int) -> AsyncIterator[Sink]:
        """Listen on loopback ``port`` until the block ends."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post("/v1/traces", self._traces)
        app.router.add_post("/v1/logs", self._logs)
        runner = web.AppRunner(app, access_log=None, auto_decompress=False)  # decode_export does
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            yield self
        finally:
            await runner.cleanup()


def rss_mb(pid: int) -> float:
    """Return the resident set size of ``pid`` now (VmRSS) in MiB."""
    for line in _text(Path(f"/proc/{pid}/status")).splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise FleetError(f"process {pid} reports no VmRSS")


def _text(path: Path) -> str:
    return path.read_text(errors="replace")


async def _first_line(proc: subprocess.Popen[bytes], log: Path) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        text = _text(log)
        if "\n" in text:
            return text.split("\n", 1)[0]
        if proc.poll() is not None:
            break
        await asyncio.sleep(0.1)
    raise FleetError(f"the fleet simulator did not start:\n{_text(log)}")


class Backend:
    """Instant PromQL queries and raw exports against one VictoriaMetrics."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base

    async def query(self, query: str, at: float) -> list[dict[str, Any]]:
        """Return the result vector of ``query`` evaluated at unix time ``at``."""
        params = {"query": query, "time": f"{at:.3f}"}
        try:
            async with self.session.get(f"{self.base}/api/v1/query", params=params) as resp:
                body = await resp.text()
                if resp.status != 200:
                    raise FleetError(f"PromQL {query}: HTTP {resp.status}: {body[:300]}")
        except aiohttp.ClientError as exc:
            raise FleetError(f"PromQL {query}: {exc}") from exc
        result: list[dict[str, Any]] = json.loads(body)["data"]["result"]
        return result

    async def flush(self) -> None:
        """Make every sample VictoriaMetrics has acknowledged searchable now."""
        try:
            async with self.session.get(f"{self.base}/internal/force_flush") as resp:
                body = await resp.text()
                if resp.status != 200:
                    raise FleetError(f"force_flush: HTTP {resp.status}: {body[:300]}")
        except aiohttp.ClientError as exc:
            raise FleetError(f"force_flush: {exc}") from exc

    async def by_device(self, query: str, at: float) -> dict[str, int]:
        """Return a ``by (device)`` query's values as integers."""
        return {
            r["metric"].get("device", ""): int(float(r["value"][1]))
            for r in await self.query(query, at)
        }

    async def total(self, query: str, at: float) -> int:
        """Return a scalar-like query's one value (0 when empty)."""
        result = await self.query(query, at)
        return int(float(result[0]["value"][1])) if result else 0

    async def export(self, selector: str, start: float, end: float) -> list[dict[str, Any]]:
        """Return the raw samples of ``selector`` between two unix times, one dict per series."""
        params = {"match[]": selector, "start": f"{start:.3f}", "end": f"{end:.3f}"}
        try:
            async with self.session.get(f"{self.base}/api/v1/export", params=params) as resp:
                body = await resp.text()
                if resp.status != 200:
                    raise FleetError(f"export {selector}: HTTP {resp.status}: {body[:300]}")
        except aiohttp.ClientError as exc:
            raise FleetError(f"export {selector}: {exc}") from exc
        return [json.loads(line) for line in body.split("\n") if line.strip()]


async def _settled_total(vm: Backend, query: str, at: float) -> int:
    """Return ``query``'s total once two reads two seconds apart agree.

    Each read follows a forced flush: acknowledged samples wait in VictoriaMetrics' pending rows
    for up to two of its 2 s flush ticks, so two plain reads 2 s apart could agree on a total
    that leaves the last requests out (seen: 94,520 readings short of what the collector sent).
    """
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last = -1
    while True:
        await vm.flush()
        count = await vm.total(query, at)
        if count == last:
            return count
        if time.monotonic() > deadline:
            raise FleetError(f"{query} still changing after {SETTLE_TIMEOUT_S:g} s: {count}")
        last = count
        await asyncio.sleep(2.0)


async def _first_readings(
    vm: Backend, selector: str, proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not await vm.total(f"sum(count_over_time({selector}[1h]))", time.time()):
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = _text(log)[-3000:]
            raise FleetError(f"no readings arrived from the collector:\n{tail}")
        await asyncio.sleep(0.5)


async def _watch(
    vm: Backend, proc: subprocess.Popen[bytes], selector: str, window_s: float,
    progress: Progress,
) -> None:  # fmt: skip
    """Let the window run, reporting landed readings, cores and peak RSS every so often."""
    started = time.monotonic()
    last_cpu, last_t = cpu_seconds(proc.pid), started
    while (elapsed := time.monotonic() - started) < window_s:
        await asyncio.sleep(min(PROGRESS_EVERY_S, window_s - elapsed))
        if proc.poll() is not None:
            raise FleetError(f"the collector exited during the window (code {proc.returncode})")
        now, cpu = time.monotonic(), cpu_seconds(proc.pid)
        recent = await vm.total(f"sum(count_over_time({selector}[10s]))", time.time() - 3)
        progress(
            f"fleet: {now - started:5.0f}/{window_s:g} s, {recent / 10:,.0f} readings/s landed, "
            f"collector {(cpu - last_cpu) / (now - last_t):.2f} cores, "
            f"peak RSS {peak_rss_mb(proc.pid):.0f} MiB"
        )
        last_cpu, last_t = cpu, now


def print_profile(path: Path, write: Progress, top: int = 30) -> None:
    """Write the ``top`` functions by own time, and by time including callees, of a dump."""
    stats = pstats.Stats(str(path))
    entries = list(stats.stats.items())  # type: ignore[attr-defined]
    total = sum(v[2] for _k, v in entries) or 1.0
    for title, column in (("own time", 2), ("time with callees", 3)):
        write(f"profile of the collector: top {top} by {title} (of {total:.1f} s)")
        for (file, line, func), row in sorted(entries, key=lambda kv: -kv[1][column])[:top]:
            where = f"{func} ({Path(file).name}:{line})"
            write(f"  {row[column] / total:6.1%} {row[column]:7.2f} s {row[1]:>10} {where}")


def _collector_argv(cfg_path: Path, profile: Path | None) -> list[str]:
    argv = [str(Path(sys.executable).with_name("sentio")), "run", "-c", str(cfg_path)]
    if profile is not None:  # the profiler's overhead is in this run's figures too
        argv = [sys.executable, "-m", "cProfile", "-o", str(profile), *argv]
    return argv


@dataclass(frozen=True)
class Reader:
    """One reader of the fleet: how to start it, and which samples are its readings."""

    name: str
    argv: list[str]
    selector: str  # every reading it landed
    seq_selector: str  # register 0 of every device: its poll counter


@dataclass(frozen=True)
class Fleet:
    """What every phase of one run shares: the backend, the sink, the layout and the timing."""

    work: Path
    vm: Backend
    vm_port: int
    metrics_url: str
    sink: Sink
    sink_port: int
    devices: int
    units: list[int]
    interval_s: float
    warmup_s: float
    duration_s: float
    reader_cpus: tuple[int, ...] = ()  # the CPUs the reader is bound to; () for all


def parse_cpus(text: str) -> tuple[int, ...]:
    """Return the CPUs of a list like ``1`` or ``0,2``; raise FleetError naming a bad one."""
    if not text.strip():
        return ()
    usable = os.sched_getaffinity(0)
    cpus: list[int] = []
    for part in text.split(","):
        try:
            cpu = int(part)
        except ValueError:
            raise FleetError(f"--reader-cpus: {part.strip()!r} is not a CPU number") from None
        if cpu not in usable:
            raise FleetError(
                f"--reader-cpus: CPU {cpu} is not one this process may run on "
                f"({', '.join(map(str, sorted(usable)))})"
            )
        cpus.append(cpu)
    return tuple(sorted(set(cpus)))


def sentio_reader(
    fleet: Fleet, ports: list[int], run_id: str, profile: Path | None
) -> Reader:  # fmt: skip
    """Write the collector's config for ``ports`` and return how to run it."""
    cfg = collector_config(
        fleet.work, fleet.vm_port, fleet.sink_port, ports, fleet.units, run_id, fleet.interval_s
    )
    cfg_path = fleet.work / f"fleet-{run_id}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    return Reader(
        "sentio", _collector_argv(cfg_path, profile), readings_selector(f"fleet-{run_id}"),
        f'{SEQ}{{instance=~"fleet-{run_id}-.*",connector="modbus"}}',
    )  # fmt: skip


def telegraf_fields() -> list[FleetField]:
    """Return the fields of one device as Telegraf reads them, the collector's ``fields()``."""
    values = [FleetField(f"v{i:02d}", i, "INT16", SCALE) for i in range(1, REGISTERS)]
    return [FleetField(SEQ, 0, "UINT16"), *values]


def telegraf_reader(fleet: Fleet, binary: Path, ports: list[int], run_id: str) -> Reader:
    """Write Telegraf's config for ``ports`` (one request per device) and return how to run it."""
    instance = f"telegraf-{run_id}"
    connections = [
        FleetConnection(port, [(u, device_name(c, u)) for u in range(1, count + 1)])
        for c, (port, count) in enumerate(zip(ports, fleet.units, strict=True))
    ]
    conf = fleet.work / f"telegraf-{run_id}.conf"
    conf.write_text(
        render_fleet_config(
            connections, telegraf_fields(), fleet.metrics_url, instance, fleet.interval_s
        )
    )
    return Reader(
        "telegraf", [str(binary), "--config", str(conf)], f'{{instance="{instance}"}}',
        f'{{__name__=~"(.+_)?{SEQ}",instance="{instance}"}}',
    )  # fmt: skip


async def phase(
    fleet: Fleet, make_reader: Callable[[list[int], str], Reader], progress: Progress
) -> FleetReport:
    """Start a fresh simulator, run one reader over it for a window, and count what landed."""
    run_id = uuid.uuid4().hex[:8]
    work, interval_s, vm, sink = fleet.work, fleet.interval_s, fleet.vm, fleet.sink
    sim_argv = [
        sys.executable, "-m", "sentio.bench.fleet_sim",
        "--connections", str(len(fleet.units)), "--units", str(max(fleet.units)),
    ]  # fmt: skip
    sim_log = work / f"fleet-sim-{run_id}.log"
    spans0 = sink.spans
    with process(sim_argv, sim_log, STOP_TIMEOUT_S) as sim:
        ports = [int(p) for p in (await _first_line(sim, sim_log)).split()]
        reader = make_reader(ports, run_id)
        progress(f"fleet: {reader.name}: {fleet.devices} devices on {len(fleet.units)} "
                 f"connection(s), polled every {interval_s:g} s; warming up "
                 f"{fleet.warmup_s:g} s")  # fmt: skip
        log = work / f"{reader.name}-{run_id}.log"
        with process(reader.argv, log, STOP_TIMEOUT_S, fleet.reader_cpus) as proc:
            begun = time.time()
            await _first_readings(vm, reader.selector, proc, log)
            await asyncio.sleep(fleet.warmup_s)  # startup is not measured
            cpu0, t0, sim0 = cpu_seconds(proc.pid), time.time(), cpu_seconds(sim.pid)
            await _watch(vm, proc, reader.selector, fleet.duration_s, progress)
            cpu1, t1, sim1 = cpu_seconds(proc.pid), time.time(), cpu_seconds(sim.pid)
            rss, rss_end = peak_rss_mb(proc.pid), rss_mb(proc.pid)
            progress(f"fleet: {reader.name}: window over; stopping it and counting")
            # off the loop: the sink here must go on answering the spans it flushes at its stop
            await asyncio.to_thread(stop_child, proc, STOP_TIMEOUT_S)
        if proc.returncode != 0:
            tail = _text(log)[-3000:]
            raise FleetError(f"{reader.name} exited with {proc.returncode}:\n{tail}")
    reads = json.loads(_text(sim_log).strip().splitlines()[-1])
    served = served_by_device(reads, ports)
    end = time.time()
    whole = f"{math.ceil(end - begun) + 60}s"
    selector, seq_selector = reader.selector, reader.seq_selector
    await _settled_total(vm, f"sum(count_over_time({selector}[{whole}]))", end)
    landed = await vm.by_device(f"sum by (device) (count_over_time({selector}[{whole}]))", end)
    highest = await vm.by_device(f"max by (device) (max_over_time({seq_selector}[{whole}]))", end)
    window = await vm.total(f"sum(count_over_time({selector}[{(t1 - t0) * 1000:.0f}ms]))", t1)
    raw = await vm.export(seq_selector, t0 - interval_s, t1 + 5 * interval_s)
    lags = poll_lags(
        ((s["values"], [ms / 1000 for ms in s["timestamps"]]) for s in raw), interval_s, (t0, t1)
    )
    dropped, duplicates = shortfall(landed, highest, served)
    polls = sum(highest.values())
    return FleetReport(
        devices=fleet.devices,
        connections=len(fleet.units),
        poll_interval_s=interval_s,
        window_s=round(t1 - t0, 1),
        readings_per_s=round(window / (t1 - t0)),
        expected_readings_per_s=round(fleet.devices * REGISTERS / interval_s),
        poll_lag_p50_s=round(percentile(lags, 0.5), 4),
        poll_lag_p99_s=round(percentile(lags, 0.99), 4),
        poll_lag_max_s=round(max(lags, default=math.nan), 4),
        collector_rss_mb=round(rss, 1),
        collector_rss_end_mb=round(rss_end, 1),
        collector_cores=round((cpu1 - cpu0) / (t1 - t0), 3),
        cpu_s_per_100k=round((cpu1 - cpu0) / window * 1e5, 3) if window else math.inf,
        readings=sum(landed.values()),
        dropped=dropped,
        duplicates=duplicates,
        devices_landed=len(landed),
        spans_per_poll=round((sink.spans - spans0) / polls, 3) if polls else 0.0,
        reader=reader.name,
        rss_per_device_kib=round(rss * 1024 / fleet.devices, 1),
        simulator_cores=round((sim1 - sim0) / (t1 - t0), 3),
    )


@contextlib.asynccontextmanager
async def fleet_backend(
    work: Path, *, devices: int, duration_s: float, warmup_s: float, interval_s: float,
    progress: Progress, reader_cpus: tuple[int, ...] = (),
) -> AsyncIterator[Fleet]:  # fmt: skip
    """Run the VictoriaMetrics and the span and log sink every phase of a run shares."""
    vm_port, sink_port = free_ports(2)
    stack_cfg = SentioConfig.model_validate(
        {"stack": {"data_dir": str(work / "stack"), "start_timeout_s": 120,
                   "victoriametrics": {"port": vm_port}}}
    )  # fmt: skip
    sink = Sink()
    async with (
        victoriametrics(stack_cfg, progress),
        sink.serving(sink_port),
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session,
    ):
        yield Fleet(
            work, Backend(session, stack_cfg.query_url()), vm_port, stack_cfg.endpoint("metrics"),
            sink, sink_port, devices, split(devices), interval_s, warmup_s, duration_s,
            reader_cpus,
        )  # fmt: skip


async def run(
    work: Path, *, devices: int, duration_s: float, warmup_s: float = 10.0,
    interval_s: float = 1.0, profile: Path | None = None, progress: Progress = lambda _m: None,
) -> FleetReport:  # fmt: skip
    """Run the collector over the fleet for ``warmup_s`` plus ``duration_s`` and measure it."""
    async with fleet_backend(
        work, devices=devices, duration_s=duration_s, warmup_s=warmup_s, interval_s=interval_s,
        progress=progress,
    ) as fleet:  # fmt: skip
        report = await phase(
            fleet, lambda ports, run_id: sentio_reader(fleet, ports, run_id, profile), progress
        )
    if profile is not None:
        print_profile(profile, progress)
    return report
