"""A flood of new MQTT topics through a real `sentio run`: its peak RSS, what it refused.

A Mosquitto and a VictoriaMetrics of their own, on loopback; the collector runs as a process
of its own with the MQTT connector's defaults (``max_devices`` 1000, ``max_metrics_per_device``
500, ``max_queued_messages`` 10,000). A known device publishes every 0.1 s throughout; a raw
paho client publishes one reading on each of ``topics`` new topics, QoS 0, as fast as it can.
The flood is over when the collector's CPU falls idle; its peak RSS is then its VmHWM (the
whole run's peak, the flood included). What it refused and dropped comes from its summary line
when it stops. The known device publishes its sequence number, so VictoriaMetrics' raw export
tells which of the readings it published during the flood landed, and their timestamps (taken
as the collector decoded them) the longest the collector went without one.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import yaml

from sentio.bench.fleet import Backend, Sink, rss_mb
from sentio.bench.procstat import cpu_seconds, peak_rss_mb
from sentio.config import SentioConfig
from sentio.errors import SentioError
from sentio.simulators.mosquitto import Mosquitto, find_mosquitto
from sentio.stack.ports import free_ports
from sentio.stack.probe import poll
from sentio.stack.query import promql

START_TIMEOUT_S = 60.0
SETTLE_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 30.0
KNOWN_EVERY_S = 0.1
IDLE_CPU = 0.2  # cores: below it the collector has taken in the flood
SUMMARY = re.compile(r"(\d+) names refused past the caps \((\d+) readings\), (\d+) incoming")


class FloodError(SentioError):
    """Raise when the flood scenario cannot run or measure."""


@dataclass(frozen=True)
class FloodReport:
    """What the collector held and refused through a flood of new topics."""

    topics: int
    rss_before_mb: float
    rss_peak_mb: float
    names_refused: int
    readings_dropped: int
    messages_dropped: int
    known_sent: int  # the known device's readings published during the flood
    known_landed: int  # and those of them in VictoriaMetrics
    known_max_gap_s: float  # the longest time between two of them, as the collector read them
    seconds: float


def _config(work: Path, name: str, vm_port: int, sink_port: int, broker: Mosquitto) -> SentioConfig:
    sink = f"http://127.0.0.1:{sink_port}"
    return SentioConfig.model_validate(
        {
            "service": {"name": "sentio-bench-flood", "instance_id": name},
            "stack": {"data_dir": str(work / "stack"), "start_timeout_s": 120,
                      "victoriametrics": {"port": vm_port}},
            "telemetry": {"export_interval_s": 1.0,
                          "traces": {"endpoint": f"{sink}/v1/traces"},
                          "logs": {"endpoint": f"{sink}/v1/logs"}},
            "collector": {"spool_dir": str(work / "spool"), "spool_fsync": False},
            "connectors": [
                {
                    "name": name,
                    "type": "mqtt",
                    "config": {
                        "broker": {"host": broker.host, "port": broker.port},
                        "subscriptions": [{"topic": f"{name}/{{device}}/{{metric}}"}],
                    },
                }
            ],
        }
    )  # fmt: skip


def publish_flood(host: str, port: int, prefix: str, topics: int) -> None:
    """Publish one reading on each of ``topics`` new topics, QoS 0, as fast as paho writes."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{uuid.uuid4().hex}")
    client.connect(host, port)
    client.loop_start()
    try:
        info = None
        for i in range(topics):
            info = client.publish(f"{prefix}/flood-{i}/m{i % 7}", b"1.5", qos=0)
        if info is not None:
            info.wait_for_publish(timeout=SETTLE_TIMEOUT_S)
    finally:
        client.disconnect()
        client.loop_stop()


async def _known(broker: Mosquitto, prefix: str, stop: asyncio.Event, sent: list[int]) -> None:
    import aiomqtt

    async with aiomqtt.Client(broker.host, broker.port) as client:
        while not stop.is_set():
            await client.publish(f"{prefix}/known/temperature", str(sent[0]).encode(), qos=0)
            sent[0] += 1  # the value is its sequence number: PromQL tells which ones landed
            await asyncio.sleep(KNOWN_EVERY_S)


async def _value(session: aiohttp.ClientSession, config: SentioConfig, query: str) -> int:
    result = await promql(session, config.query_url(), query)
    return int(sum(float(r["value"][1]) for r in result))


async def _stamped(backend: Backend, selector: str) -> dict[int, float]:
    """Return the known device's readings, sequence number to time, once all have landed.

    Raw samples: a query would merge readings stamped in the same millisecond.
    """
    seen: list[dict[int, float]] = []

    async def same() -> dict[int, float] | None:
        raw = await backend.export(selector, 0, time.time() + 60)
        seen.append(
            {
                int(v): t / 1e3
                for series in raw
                for v, t in zip(series["values"], series["timestamps"], strict=True)
            }
        )
        return seen[-1] if len(seen) >= 3 and seen[-1] == seen[-2] == seen[-3] else None

    return await poll(same, SETTLE_TIMEOUT_S, f"{selector} settled", interval_s=1.0)


async def _idle(pid: int) -> None:
    """Return once ``pid`` used under IDLE_CPU of a core for two seconds in a row."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    last, calm = cpu_seconds(pid), 0
    while calm < 2:
        if time.monotonic() > deadline:
            raise FloodError(f"sentio run still busy {SETTLE_TIMEOUT_S:g} s after the flood")
        await asyncio.sleep(1.0)
        now = cpu_seconds(pid)
        calm = calm + 1 if now - last < IDLE_CPU else 0
        last = now


def _start(cfg_path: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(Path(sys.executable).with_name("sentio")), "run", "-c", str(cfg_path)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


async def flood(
    work: Path, *, topics: int = 100_000, progress: Callable[[str], None] = lambda _m: None
) -> FloodReport:
    """Flood a real `sentio run` with ``topics`` new topics; measure its RSS and refusals."""
    from sentio.bench.faults import victoriametrics

    executable = find_mosquitto()
    if executable is None:
        raise FloodError("the flood needs mosquitto (Debian's package), which is not installed")
    name = f"flood-{uuid.uuid4().hex[:8]}"
    broker = Mosquitto(executable, work / "mosquitto")
    vm_port, sink_port = free_ports(2)
    await broker.start()
    stop, sent = asyncio.Event(), [0]
    try:
        config = _config(work, name, vm_port, sink_port, broker)
        cfg_path = work / "flood.yaml"
        cfg_path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
        known_q = f'sum(count_over_time(temperature{{instance="{name}", device="known"}}[1h]))'
        async with (
            victoriametrics(config, progress),
            Sink().serving(sink_port),
            aiohttp.ClientSession() as session,
        ):
            log = work / "collector.log"
            proc = await asyncio.to_thread(_start, cfg_path, log)
            known = asyncio.create_task(_known(broker, name, stop, sent))
            try:

                async def flowing() -> bool | None:
                    if proc.poll() is not None:
                        raise FloodError(f"sentio run ended:\n{log.read_text()[-2000:]}")
                    return True if await _value(session, config, known_q) > 0 else None

                await poll(flowing, START_TIMEOUT_S, "the known device's readings", 0.5)
                before = rss_mb(proc.pid)
                progress(f"flood: {topics} new topics at sentio run (RSS {before:.0f} MiB)")
                started, sent0 = time.monotonic(), sent[0]
                await asyncio.to_thread(publish_flood, broker.host, broker.port, name, topics)
                await _idle(proc.pid)  # it has taken in the whole flood
                seconds, published = time.monotonic() - started, sent[0] - sent0
                peak = peak_rss_mb(proc.pid)
                stop.set()
                await known
                await asyncio.to_thread(_stop, proc)  # its last flush delivers what it holds
                backend = Backend(session, config.query_url())
                stamped = await _stamped(backend, f'temperature{{instance="{name}"}}')
                during = sorted(t for seq, t in stamped.items() if sent0 <= seq < sent0 + published)
                gap = max((b - a for a, b in itertools.pairwise(during)), default=seconds)
            finally:
                stop.set()
                await asyncio.gather(known, return_exceptions=True)
                await asyncio.to_thread(_stop, proc)
    finally:
        await broker.stop()
    summary = [line for line in log.read_text().splitlines() if line.startswith("stopped:")]
    counts = SUMMARY.search(summary[-1]) if summary else None
    if counts is None:
        raise FloodError(f"sentio run printed no summary line:\n{log.read_text()[-2000:]}")
    progress(f"flood: {summary[-1]}")
    refused, readings, messages = (int(n) for n in counts.groups())
    return FloodReport(
        topics, round(before, 1), round(peak, 1), refused, readings, messages, published,
        len(during), round(gap, 2), round(seconds, 1),
    )  # fmt: skip
