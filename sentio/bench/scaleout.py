"""Scale-out throughput: two sharded collectors against one, VictoriaLogs cluster against single.

Collectors: the ingest benchmark's dense Modbus meters (``sentio.bench.meter``, in its own
process) are read at full speed first by one ``sentio run``, then by two, ``--shard 0/2`` and
``--shard 1/2``, on the same config, into the same VictoriaMetrics. Readings are counted where
they land (PromQL, by sample timestamps in the window); CPU is the collectors' own, from /proc.

VictoriaLogs: the same JSON-lines batches are posted, by a fixed number of concurrent senders,
for the same window, to a single-node VictoriaLogs and then to a cluster of storage nodes
behind one insert/select front, each started here on free loopback ports and stopped after;
records are counted through LogsQL once the backend has flushed. The figure is the backend's
ingest rate with this machine's cores shared by the senders.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from sentio.bench.ingest import (
    PAUSE_BETWEEN_S,
    START_TIMEOUT_S,
    BenchError,
    _count,
    _meter_port,
    _settled,
    _split,
    collector_config,
    process,
    readings_selector,
)
from sentio.bench.procstat import cpu_seconds, peak_rss_mb
from sentio.config import SentioConfig
from sentio.stack.backends import backends
from sentio.stack.install import install
from sentio.stack.ports import free_ports
from sentio.stack.running import stack_running
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions

Progress = Callable[[str], None]
LOG_BATCH = 5000
LOG_SENDERS = 4


@dataclass(frozen=True)
class Readers:
    """What one set of collectors did in the window."""

    members: int
    readings_per_s: float
    cpu_s_per_100k: float
    peak_rss_mb: float


@dataclass(frozen=True)
class ScaleoutReport:
    """The figures ``sentio bench scaleout`` prints."""

    one_collector_readings_per_s: float
    two_collectors_readings_per_s: float
    collector_speedup: float
    one_collector_cpu_s_per_100k: float
    two_collectors_cpu_s_per_100k: float
    vl_single_records_per_s: float
    vl_cluster_records_per_s: float
    vl_cluster_speedup: float
    vl_storage_nodes: int
    vl_single_peak_rss_mb: float
    vl_single_cores: float
    window_s: float
    units: int


def _measure_readers(
    pids: list[int], base_url: str, selector: str, warmup_s: float,
    window_s: float,
) -> tuple[int, float, float, float]:  # fmt: skip
    """Warm up, measure the window; return (readings, seconds, cpu seconds, peak RSS MiB)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while _count(base_url, selector, 3600, time.time()) == 0:
        if time.monotonic() > deadline:
            raise BenchError(f"no readings arrived for {selector}")
        time.sleep(0.5)
    time.sleep(warmup_s)  # a measurement window, not a wait for data
    cpu0, t0 = sum(cpu_seconds(p) for p in pids), time.time()
    time.sleep(window_s)
    cpu1, t1 = sum(cpu_seconds(p) for p in pids), time.time()
    rss = sum(peak_rss_mb(p) for p in pids)
    readings = _settled(base_url, selector, t1 - t0, t1)
    return readings, t1 - t0, cpu1 - cpu0, rss


def _collectors(
    config: SentioConfig, port: int, groups: list[list[int]], work: Path, members: int,
    warmup_s: float, window_s: float, progress: Progress,
) -> Readers:  # fmt: skip
    run_id = uuid.uuid4().hex[:8]
    cfg_path = work / f"sentio-{members}.yaml"
    cfg_path.write_text(yaml.safe_dump(collector_config(config, port, groups, run_id)))
    sentio = str(Path(sys.executable).with_name("sentio"))
    progress(f"{members} collector(s): measuring {window_s:g} s")
    with contextlib.ExitStack() as stack:
        pids: list[int] = []
        for member in range(members):
            argv = [sentio, "run", "-c", str(cfg_path)]
            if members > 1:
                argv += ["--shard", f"{member}/{members}"]
            proc = stack.enter_context(process(argv, work / f"sentio-{members}-{member}.log"))
            pids.append(proc.pid)
        selector = readings_selector(f"bench-{run_id}")
        readings, seconds, cpu_s, rss = _measure_readers(
            pids, config.query_url(), selector, warmup_s, window_s
        )
    progress(f"{members} collector(s): {readings / seconds:.0f} readings/s, {cpu_s:.1f} CPU s")
    return Readers(
        members=members,
        readings_per_s=round(readings / seconds),
        cpu_s_per_100k=round(cpu_s / readings * 1e5, 3) if readings else float("inf"),
        peak_rss_mb=round(rss, 1),
    )


@contextlib.contextmanager
def _victorialogs(
    config: SentioConfig, work: Path, storage_nodes: int, progress: Progress
) -> Iterator[tuple[SentioConfig, Stack]]:
    """Run a VictoriaLogs (single-node, or a cluster of ``storage_nodes``) on free ports."""
    data = config.model_dump(mode="json")
    ports = free_ports(1 + storage_nodes, config.stack.host)
    vl: dict[str, object] = {"port": ports[0]}
    if storage_nodes:
        vl["cluster"] = {"storage_nodes": storage_nodes, "storage_ports": ports[1:]}
    data["stack"]["victorialogs"] = vl
    data["stack"]["data_dir"] = str(work / f"vl-{storage_nodes}")
    own = SentioConfig.model_validate(data)
    single = {"victorialogs": backends(load_versions())["victorialogs"]}
    install(single.values(), own.stack.bin_dir, progress)
    stack = Stack(own.stack, single, own.stack.bin_dir)
    asyncio.run(stack.up(progress))
    try:
        yield own, stack
    finally:
        asyncio.run(stack.down(progress=progress))


async def _flood(base: str, run: str, window_s: float) -> int:
    """Post JSON-lines batches with LOG_SENDERS senders for ``window_s``; return records sent."""
    lines = "\n".join(
        json.dumps({"_msg": f"reading {i} of pump-{i % 50} within limits", "run": run,
                    "device": f"pump-{i % 50}", "level": "info", "seq": i})
        for i in range(LOG_BATCH)
    ).encode()  # fmt: skip
    params = {"_stream_fields": "run", "_msg_field": "_msg"}
    sent = 0
    deadline = time.monotonic() + window_s

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal sent
        while time.monotonic() < deadline:
            async with session.post(f"{base}/insert/jsonline", params=params, data=lines) as resp:
                if resp.status != 200:
                    raise BenchError(f"VictoriaLogs refused a batch: HTTP {resp.status}")
                sent += LOG_BATCH

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(sender(session) for _ in range(LOG_SENDERS)))
    return sent


async def _landed(base: str, run: str, want: int) -> int:
    """Poll LogsQL until the run's record count reaches ``want``, or has not grown for 30 s."""
    query = {"query": f"_time:1h run:{run} | stats count() as n"}
    last, grew = -1, time.monotonic()
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(f"{base}/select/logsql/query", params=query) as resp:
                rows = [json.loads(x) for x in (await resp.text()).split("\n") if x.strip()]
            count = int(rows[0]["n"]) if rows else 0
            if count > last:
                last, grew = count, time.monotonic()
            if count >= want or time.monotonic() - grew > 30:
                return count
            await asyncio.sleep(1.0)


def _logs_phase(
    config: SentioConfig, work: Path, storage_nodes: int, window_s: float, progress: Progress
) -> tuple[float, float, float]:
    """Return (records/s landed, peak RSS MiB and mean cores of every VictoriaLogs process)."""
    with _victorialogs(config, work, storage_nodes, progress) as (own, stack):
        base = own.stack.url("victorialogs")
        run = uuid.uuid4().hex
        pids = [p for n in stack.backends if (p := stack.pid(n)) is not None]
        kind = f"a cluster of {storage_nodes}" if storage_nodes else "single-node"
        progress(f"VictoriaLogs, {kind}: {LOG_SENDERS} senders for {window_s:g} s")
        cpu0, t0 = sum(cpu_seconds(p) for p in pids), time.monotonic()
        sent = asyncio.run(_flood(base, run, window_s))
        elapsed = time.monotonic() - t0
        cpu1 = sum(cpu_seconds(p) for p in pids)
        landed = asyncio.run(_landed(base, run, sent))
        progress(f"VictoriaLogs, {kind}: {landed} of {sent} records in {elapsed:.1f} s")
        if landed < sent:
            raise BenchError(f"VictoriaLogs ({kind}) kept {landed} of {sent} records")
        rss = sum(peak_rss_mb(p) for p in pids)
    return landed / elapsed, rss, (cpu1 - cpu0) / elapsed


def run(
    config: SentioConfig, *, units: int, connections: int, warmup_s: float, window_s: float,
    storage_nodes: int, progress: Progress, workdir: Path | None = None,
) -> ScaleoutReport:  # fmt: skip
    """Run both comparisons, starting the stack for the collectors if it is not running."""
    groups = _split(units, connections)
    with contextlib.ExitStack() as stack:
        work = workdir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        work.mkdir(parents=True, exist_ok=True)
        with stack_running(config, progress), process(
            [sys.executable, "-m", "sentio.bench.meter", "--units", str(units)],
            work / "meter.log",
        ) as meter:  # fmt: skip
            port = _meter_port(meter, work / "meter.log")
            one = _collectors(config, port, groups, work, 1, warmup_s, window_s, progress)
            time.sleep(PAUSE_BETWEEN_S)
            two = _collectors(config, port, groups, work, 2, warmup_s, window_s, progress)
        single, single_rss, single_cores = _logs_phase(config, work, 0, window_s, progress)
        cluster, _rss, _cores = _logs_phase(config, work, storage_nodes, window_s, progress)
    return ScaleoutReport(
        one_collector_readings_per_s=one.readings_per_s,
        two_collectors_readings_per_s=two.readings_per_s,
        collector_speedup=round(two.readings_per_s / one.readings_per_s, 2),
        one_collector_cpu_s_per_100k=one.cpu_s_per_100k,
        two_collectors_cpu_s_per_100k=two.cpu_s_per_100k,
        vl_single_records_per_s=round(single),
        vl_cluster_records_per_s=round(cluster),
        vl_cluster_speedup=round(cluster / single, 2),
        vl_storage_nodes=storage_nodes,
        vl_single_peak_rss_mb=round(single_rss, 1),
        vl_single_cores=round(single_cores, 2),
        window_s=window_s,
        units=units,
    )
