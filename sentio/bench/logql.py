"""`sentio bench logql`: the Loki API against the same LogsQL sent straight to VictoriaLogs.

A VictoriaLogs and the Loki API (`loki-api`) of their own on free loopback ports hold
``records`` log records sent over OTLP/HTTP; each query of a typical Grafana corpus runs
through the API and, translated by the same translator, straight against VictoriaLogs, in
turn, ``repeat`` times. Then the API streams a ``stream_lines``-line answer while its resident
memory is sampled.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from sentio.bench.ingest import BenchError
from sentio.bench.procstat import cpu_seconds, peak_rss_mb
from sentio.config import SentioConfig
from sentio.logql.coverage import coverage
from sentio.logql.labels import Resolver
from sentio.logql.parser import parse
from sentio.logql.translate import LogsPlan, StatsPlan, Translator
from sentio.logql.victorialogs import parse_rfc3339_ns, rfc3339
from sentio.stack.backends import backends
from sentio.stack.install import install
from sentio.stack.ports import free_ports
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions

Progress = Callable[[str], None]
NS = 1_000_000_000
BATCH = 20_000
SPAN_S = 3000  # the records cover the last 50 minutes
STEP_S = 60
LEVELS = ("INFO", "INFO", "INFO", "WARNING", "ERROR", "DEBUG")
# (kind, LogQL): what a Grafana user runs; log queries ask for 100 lines over the hour.
CORPUS: tuple[tuple[str, str], ...] = (
    ("log", '{service_name="plant-a"}'),
    ("log", '{service_name="plant-a"} |= "timeout"'),
    ("log", '{service_name=~"plant-.*"} |~ "(?i)overheat"'),
    ("log", '{service_name="plant-b"} | logfmt | temp > 28'),
    ("log", '{service_name="plant-a"} | json | status >= 500'),
    ("log", '{device="pump-7"}'),
    ("log", '{detected_level="error"}'),
    ("log", '{service_name="plant-a"} != "ok" | logfmt | line_format "{{.device}} {{.temp}}"'),
    ("range", 'sum by (detected_level) (count_over_time({service_name=~"plant-.*"}[1m]))'),
    ("range", 'sum(rate({service_name="plant-a"} |= "timeout" [1m]))'),
    ("range", 'sum by (device) (count_over_time({service_name="plant-b"}[1m]))'),
    ("range", 'topk(5, sum by (device) (count_over_time({service_name=~"plant-.*"}[1m])))'),
    ("range", 'avg_over_time({service_name="plant-a"} | logfmt | unwrap temp [1m]) by (host_name)'),
    ("range", 'sum by (host_name) (bytes_over_time({service_name=~"plant-.*"}[1m]))'),
    ("instant", 'sum by (device) (count_over_time({service_name="plant-a"}[1h]))'),
    ("instant", 'sum(count_over_time({service_name=~"plant-.*"} | json | status >= 500 [1h]))'),
)


@dataclass(frozen=True)
class QueryTiming:
    """One query: median seconds through the API and straight to VictoriaLogs; API CPU ms."""

    query: str
    kind: str
    api_s: float
    direct_s: float
    ratio: float
    api_cpu_ms: float  # CPU of the API's event loop per request of this query, mean


@dataclass(frozen=True)
class LogqlReport:
    """What `sentio bench logql` measured."""

    records: int
    repeat: int
    queries: int
    median_ratio: float
    p99_ratio: float
    ratio_min: float
    ratio_p25: float
    ratio_p75: float
    ratio_max: float
    median_overhead_ms: float
    api_cpu_ms_per_query: float
    ingest_s: float
    stream_lines: int
    stream_bytes: int
    stream_s: float
    api_rss_before_mb: float
    api_peak_rss_streaming_mb: float
    api_peak_rss_mb: float
    timings: list[QueryTiming] = field(default_factory=list)
    # one example of each construct through the translator: what it takes, what it refuses
    constructs_supported: list[str] = field(default_factory=list)
    constructs_refused: dict[str, str] = field(default_factory=dict)


def _body(i: int) -> str:
    device = f"pump-{i % 50}"
    kind = i % 3
    if kind == 0:
        word = "overheat" if i % 97 == 0 else ("timeout" if i % 31 == 0 else "ok")
        temp = f"{20 + i % 11}.5"
        return f"level=info device={device} temp={temp} duration={(i % 9 + 1) * 50}ms msg={word}"
    if kind == 1:
        status = (200, 200, 201, 404, 500, 503)[i % 6]
        return json.dumps({"status": status, "latency_ms": i % 97, "path": f"/api/v{i % 2}"})
    return f"{device} cycle {i} {'Timeout' if i % 29 == 0 else 'done'} after {i % 13} s"


def otlp_batch(start: int, count: int, base_ns: int, spacing_ns: int) -> bytes:
    """Return one OTLP logs request of records ``start`` .. ``start + count``."""
    groups: dict[tuple[str, str], list[LogRecord]] = {}
    for i in range(start, start + count):
        key = ("plant-a" if i % 3 != 2 else "plant-b", f"edge-{i % 2 + 1}")
        groups.setdefault(key, []).append(
            LogRecord(
                time_unix_nano=base_ns + i * spacing_ns,
                severity_text=LEVELS[i % len(LEVELS)],
                body=AnyValue(string_value=_body(i)),
                attributes=[KeyValue(key="device", value=AnyValue(string_value=f"pump-{i % 50}"))],
            )
        )
    request = ExportLogsServiceRequest(
        resource_logs=[
            ResourceLogs(
                resource=Resource(
                    attributes=[
                        KeyValue(key="service.name", value=AnyValue(string_value=svc)),
                        KeyValue(key="host.name", value=AnyValue(string_value=host)),
                    ]
                ),
                scope_logs=[ScopeLogs(log_records=logs)],
            )
            for (svc, host), logs in groups.items()
        ]
    )
    body: bytes = request.SerializeToString()
    return body


@contextlib.contextmanager
def _stack(
    config: SentioConfig, work: Path, progress: Progress
) -> Iterator[tuple[Stack, str, str]]:
    """Run VictoriaLogs and the Loki API on free ports under ``work``; yield them and URLs."""
    data = config.model_dump(mode="json")
    vl_port, api_port = free_ports(2, config.stack.host)
    data["stack"]["victorialogs"] = {"port": vl_port}
    data["stack"]["loki_api"] = {"port": api_port}
    data["stack"]["data_dir"] = str(work)
    own = SentioConfig.model_validate(data)
    every = backends(load_versions())
    selected = {name: every[name] for name in ("victorialogs", "loki-api")}
    install(selected.values(), own.stack.bin_dir, progress)
    stack = Stack(own.stack, selected, own.stack.bin_dir)
    asyncio.run(stack.up(progress))
    try:
        yield stack, own.stack.url("victorialogs"), own.stack.url("loki-api")
    finally:
        asyncio.run(stack.down(progress=progress))


def _ingest(vl: str, records: int, base_ns: int, spacing_ns: int, progress: Progress) -> float:
    t0 = time.monotonic()
    with requests.Session() as session:
        for start in range(0, records, BATCH):
            body = otlp_batch(start, min(BATCH, records - start), base_ns, spacing_ns)
            resp = session.post(
                f"{vl}/insert/opentelemetry/v1/logs",
                data=body,
                headers={"Content-Type": "application/x-protobuf"},
                timeout=60,
            )
            if resp.status_code != 200:
                raise BenchError(f"VictoriaLogs refused a batch: HTTP {resp.status_code}")
            if start and start % 200_000 == 0:
                progress(f"sent {start:,} records")
        newest = base_ns + (records - 1) * spacing_ns
        _wait_visible(session, vl, records, newest)
    return time.monotonic() - t0


def _wait_visible(session: requests.Session, vl: str, records: int, newest_ns: int) -> None:
    """Poll until VictoriaLogs counts every record and returns the newest one as a row.

    Its stats see a batch up to a second or more before a query returning rows does (``sort
    by (_time desc) | limit N`` answered nothing while ``stats count()`` counted every
    record), so a count alone let the first timed query find no records.
    """
    deadline = time.monotonic() + 120
    while True:
        count = _rows(session, vl, "* | stats count() as n")
        if count and int(count[0]["n"]) >= records:
            top = _rows(session, vl, "* | sort by (_time desc) | limit 1")
            if top and parse_rfc3339_ns(top[0]["_time"]) == newest_ns:
                return
        if time.monotonic() > deadline:
            raise BenchError(f"VictoriaLogs did not return all {records} records within 120 s")
        time.sleep(0.2)


def _rows(session: requests.Session, vl: str, query: str) -> list[dict[str, str]]:
    resp = session.post(f"{vl}/select/logsql/query", data={"query": query}, timeout=60)
    if resp.status_code != 200:
        raise BenchError(f"VictoriaLogs {query!r}: HTTP {resp.status_code}: {resp.text[:300]}")
    return [json.loads(line) for line in resp.text.splitlines() if line.strip()]


def _timed(session: requests.Session, method: str, url: str, **kw: Any) -> float:
    t0 = time.perf_counter()
    resp = session.request(method, url, timeout=300, **kw)  # reads the whole body
    elapsed = time.perf_counter() - t0
    if resp.status_code != 200:
        raise BenchError(f"{method} {url}: HTTP {resp.status_code}: {resp.text[:300]}")
    return elapsed


def _direct(
    session: requests.Session, vl: str, kind: str, logql: str, translator: Translator,
    start: int, end: int,
) -> Callable[[], float]:  # fmt: skip
    plan = translator.translate(parse(logql))
    if isinstance(plan, LogsPlan):
        query = f"{plan.query} | sort by (_time desc) | limit 100"
        data = {"query": query, "start": rfc3339(start), "end": rfc3339(end - 1)}
        return lambda: _timed(session, "POST", f"{vl}/select/logsql/query", data=data)
    if not isinstance(plan, StatsPlan):
        raise BenchError(f"{logql}: the bench corpus holds single stats queries only")
    if kind == "instant":
        lo = end - plan.range_ns + 1
        data = {"query": plan.query, "start": rfc3339(lo), "end": rfc3339(end),
                "time": rfc3339(end)}  # fmt: skip
        return lambda: _timed(session, "POST", f"{vl}/select/logsql/stats_query", data=data)
    step = STEP_S * NS
    lo = start - step
    data = {"query": plan.query, "start": rfc3339(lo), "end": rfc3339(end - 1),
            "step": f"{step}ns", "offset": f"{(-lo) % step}ns"}  # fmt: skip
    return lambda: _timed(session, "POST", f"{vl}/select/logsql/stats_query_range", data=data)


def _api(
    session: requests.Session, api: str, kind: str, logql: str, start: int, end: int
) -> Callable[[], float]:
    if kind == "instant":
        params = {"query": logql, "time": str(end)}
        return lambda: _timed(session, "GET", f"{api}/loki/api/v1/query", params=params)
    params = {"query": logql, "start": str(start), "end": str(end), "limit": "100",
              "step": f"{STEP_S}s"}  # fmt: skip
    return lambda: _timed(session, "GET", f"{api}/loki/api/v1/query_range", params=params)


def _cpu_s(pid: int) -> float:
    """Return the CPU seconds of ``pid``'s main thread (the API's event loop), to the ns."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / NS
    except (OSError, ValueError, IndexError):
        return cpu_seconds(pid)  # clock ticks: coarser, every thread


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _stream(api: str, pid: int, lines: int, start: int, end: int) -> tuple[int, int, float, float]:
    """Stream a ``lines``-line answer; return lines, bytes, seconds and the API's peak RSS MB.

    The peak is the larger of the kernel's high-water mark (VmHWM) once the answer is read
    (nothing but start-up ran in the API before, so it holds the streaming peak however short
    the stream) and resident memory sampled every 20 ms (VmHWM is raised only when pages are
    unmapped, so a sample can exceed it).
    """
    peak = _rss_mb(pid)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, _rss_mb(pid))

    sampler = threading.Thread(target=sample, name="rss-sampler")
    sampler.start()
    t0 = time.perf_counter()
    size = 0
    try:
        params = {"query": '{service_name=~"plant-.*"}', "start": str(start), "end": str(end),
                  "limit": str(lines)}  # fmt: skip
        with requests.get(f"{api}/loki/api/v1/query_range", params=params, stream=True,
                          timeout=600) as resp:  # fmt: skip
            if resp.status_code != 200:
                raise BenchError(f"streaming {lines} lines: HTTP {resp.status_code}")
            chunks = []
            for chunk in resp.iter_content(1 << 16):
                size += len(chunk)
                chunks.append(chunk)
        elapsed = time.perf_counter() - t0
        peak = max(peak, peak_rss_mb(pid))
    finally:
        done.set()
        sampler.join()
    body = json.loads(b"".join(chunks))
    got = sum(len(s["values"]) for s in body["data"]["result"])
    return got, size, elapsed, peak


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(
    config: SentioConfig,
    records: int = 1_000_000,
    repeat: int = 7,
    stream_lines: int = 100_000,
    progress: Progress = print,
) -> LogqlReport:
    """Load the records, time the corpus both ways, stream a long answer; return the report."""
    if stream_lines > records:
        raise BenchError(f"--stream-lines {stream_lines} is more than --records {records}")
    with (
        tempfile.TemporaryDirectory(prefix="sentio-bench-logql-") as tmp,
        _stack(config, Path(tmp), progress) as (stack, vl, api),
    ):
        end_s = int(time.time() // STEP_S) * STEP_S
        base_ns = (end_s - SPAN_S) * NS
        spacing = SPAN_S * NS // records
        progress(f"sending {records:,} records over OTLP")
        ingest_s = _ingest(vl, records, base_ns, spacing, progress)
        start, end = (end_s - 3600) * NS, end_s * NS
        pid = stack.pid("loki-api")
        if pid is None:
            raise BenchError("the Loki API is not running")
        with requests.Session() as session:
            fields = session.post(
                f"{vl}/select/logsql/field_names", data={"query": "*"}, timeout=60
            ).json()
            translator = Translator(Resolver(v["value"] for v in fields["values"]))
            rss_before = _rss_mb(pid)
            progress(f"streaming {stream_lines:,} lines through the API")
            got, size, stream_s, stream_peak = _stream(api, pid, stream_lines, start, end)
            if got != stream_lines:
                raise BenchError(f"the streamed answer had {got} lines, not {stream_lines}")
            timings: list[QueryTiming] = []
            ratios: list[float] = []
            overheads: list[float] = []
            cpu: list[float] = []
            for kind, logql in CORPUS:
                via_api = _api(session, api, kind, logql, start, end)
                direct = _direct(session, vl, kind, logql, translator, start, end)
                via_api(), direct()  # warm both paths (caches, connections)
                a_s, d_s = [], []
                cpu0 = _cpu_s(pid)
                for i in range(repeat):
                    if i % 2:  # alternate which goes first, so neither gets the warmer caches
                        d_s.append(direct())
                        a_s.append(via_api())
                    else:
                        a_s.append(via_api())
                        d_s.append(direct())
                cpu_ms = (_cpu_s(pid) - cpu0) * 1000 / repeat
                cpu.append(cpu_ms)
                ratios.extend(a / d for a, d in zip(a_s, d_s, strict=True))
                overheads.extend(a - d for a, d in zip(a_s, d_s, strict=True))
                a_med, d_med = statistics.median(a_s), statistics.median(d_s)
                timings.append(
                    QueryTiming(
                        logql,
                        kind,
                        round(a_med, 5),
                        round(d_med, 5),
                        round(a_med / d_med, 3),
                        round(cpu_ms, 2),
                    )
                )
                progress(
                    f"{a_med * 1000:8.1f} ms vs {d_med * 1000:8.1f} ms  (API CPU {cpu_ms:5.1f} ms)"
                    f"  {logql}"
                )
        covered = coverage()
        return LogqlReport(
            records=records,
            repeat=repeat,
            queries=len(CORPUS),
            median_ratio=round(statistics.median(ratios), 3),
            p99_ratio=round(_pct(ratios, 0.99), 3),
            ratio_min=round(min(ratios), 3),
            ratio_p25=round(_pct(ratios, 0.25), 3),
            ratio_p75=round(_pct(ratios, 0.75), 3),
            ratio_max=round(max(ratios), 3),
            median_overhead_ms=round(statistics.median(overheads) * 1000, 2),
            api_cpu_ms_per_query=round(statistics.fmean(cpu), 2),
            ingest_s=round(ingest_s, 1),
            stream_lines=got,
            stream_bytes=size,
            stream_s=round(stream_s, 2),
            api_rss_before_mb=round(rss_before, 1),
            api_peak_rss_streaming_mb=round(stream_peak, 1),
            # VmHWM is raised only when pages are unmapped, so a sample can exceed it
            api_peak_rss_mb=round(max(peak_rss_mb(pid), stream_peak), 1),
            timings=timings,
            constructs_supported=covered.supported,
            constructs_refused=covered.refused,
        )
