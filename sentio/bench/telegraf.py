"""Telegraf as the ingest benchmark's baseline: build it once, and write its configuration.

Only the plugins the benchmark uses are compiled in (``custom`` build tags), which keeps the
first build to a few minutes; the binary is cached next to the backends.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sentio.bench.meter import FLOATS, INT_SCALE, INTS, READINGS
from sentio.errors import SentioError
from sentio.stack.golang import ensure_go
from sentio.stack.install import cache_root
from sentio.stack.versions import load_versions

MODULE = "github.com/influxdata/telegraf/cmd/telegraf"
BUILD_TAGS = "custom,inputs.modbus,outputs.opentelemetry"
BUILD_TIMEOUT_S = 3600
# Telegraf batches metrics, and each of its metrics here is one request's 100 fields: this many
# make one OTLP request as large as the collector's (5000 readings).
BATCH_METRICS = 5000 // READINGS

Progress = Callable[[str], None]
# Telegraf logs at the next write how many metrics its buffer overflowed: a warning, which its
# ``quiet`` mode would hide, so the benchmark runs it with ``quiet = false``.
_OVERFLOW = re.compile(r" W! \[outputs\.[^\]]*\] Metric buffer overflow; (\d+) metrics have been")
_SLOW = re.compile(r" W! \[inputs\.[^\]]*\] Collection took longer than expected")
_ERROR = re.compile(r" E! ")


class TelegrafError(SentioError):
    """Raise when Telegraf cannot be built or run."""


def ensure_telegraf(version: str, bin_dir: Path, progress: Progress) -> Path:
    """Return the cached Telegraf ``version``, building it with ``go install`` if missing."""
    target = bin_dir / "telegraf" / version / "telegraf"
    if target.exists():
        return target
    go = str(ensure_go(load_versions()["GO_VERSION"], cache_root(), progress))
    progress(f"building Telegraf {version} ({BUILD_TAGS}) into {target.parent}; once only")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        env = {**os.environ, "GOBIN": tmp, "GOFLAGS": "-mod=mod"}
        try:
            proc = subprocess.run(
                [go, "install", "-tags", BUILD_TAGS, f"{MODULE}@{version}"],
                env=env, cwd=tmp, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S,
                check=False,
            )  # fmt: skip
        except subprocess.TimeoutExpired as exc:
            raise TelegrafError(f"building Telegraf took over {BUILD_TIMEOUT_S} s") from exc
        if proc.returncode != 0:
            raise TelegrafError(f"go install {MODULE}@{version} failed:\n{proc.stderr[-3000:]}")
        Path(tmp, "telegraf").replace(target)
    return target


@dataclass(frozen=True)
class TelegrafLog:
    """What Telegraf's log says it lost: metrics its buffers dropped, slow gathers, errors."""

    dropped_metrics: int
    slow_gathers: int
    errors: int


def read_log(text: str) -> TelegrafLog:
    """Return the drops, slow gathers and error lines in a Telegraf log (run with quiet off)."""
    return TelegrafLog(
        dropped_metrics=sum(int(m.group(1)) for m in _OVERFLOW.finditer(text)),
        slow_gathers=len(_SLOW.findall(text)),
        errors=len(_ERROR.findall(text)),
    )


def _fields() -> str:
    floats = [f'{{ address={2 * i}, name="f{i}", type="FLOAT32" }}' for i in range(FLOATS)]
    ints = [
        f'{{ address={2 * FLOATS + i}, name="i{i}", type="INT16", scale={INT_SCALE} }}'
        for i in range(INTS)
    ]
    return ",\n      ".join(floats + ints)


def render_config(
    port: int, connections: Sequence[Sequence[int]], metrics_url: str, instance: str,
    interval_s: float = 0.01,
) -> str:  # fmt: skip
    """Return a Telegraf config reading every unit each ``interval_s`` and sending OTLP/HTTP."""
    lines = [
        "[global_tags]",
        f'  instance = "{instance}"',
        "[agent]",
        f'  interval = "{interval_s * 1000:g}ms"',
        "  round_interval = false",
        '  collection_jitter = "0s"',
        '  flush_interval = "200ms"',
        '  flush_jitter = "0s"',
        f"  metric_batch_size = {BATCH_METRICS}",
        f"  metric_buffer_limit = {BATCH_METRICS * 2000}",
        "  omit_hostname = true",
        "  quiet = false",  # its drops are warnings
    ]
    # One output per connection: a single output sends one request at a time and falls behind
    # the gathering, so its buffer overflows and drops what was already read.
    for index, _units in enumerate(connections):
        lines += [
            "[[outputs.opentelemetry]]",
            f'  service_address = "{metrics_url}"',
            '  compression = "none"',
            "  [outputs.opentelemetry.tagpass]",
            f'    name = ["meters-{index}"]',
        ]
    for index, units in enumerate(connections):
        lines += [
            "[[inputs.modbus]]",
            f'  name = "meters-{index}"',
            f'  controller = "tcp://127.0.0.1:{port}"',
            '  timeout = "2s"',
            '  configuration_type = "request"',
        ]
        for unit in units:
            lines += [
                "  [[inputs.modbus.request]]",
                f"    slave_id = {unit}",
                '    byte_order = "ABCD"',
                '    register = "holding"',
                '    measurement = "meter"',
                f"    fields = [\n      {_fields()},\n    ]",
                "    [inputs.modbus.request.tags]",
                f'      device = "meter-{unit}"',
            ]
    return "\n".join(lines) + "\n"


# The fleet benchmark's baseline: one ``[[inputs.modbus]]`` per connection and, inside it, one
# request per device, so Telegraf reads each device in one request as the collector does.
FLEET_MEASUREMENT = "fleet"
FLEET_BATCH_METRICS = 1000  # Telegraf's default metric_batch_size


@dataclass(frozen=True)
class FleetField:
    """One register of a fleet device as Telegraf's request fields name it."""

    name: str
    address: int
    type: str  # Telegraf's input type: UINT16, INT16, ...
    scale: float | None = None


@dataclass(frozen=True)
class FleetConnection:
    """One TCP connection of the fleet: its port and its devices as (unit id, device name)."""

    port: int
    devices: Sequence[tuple[int, str]]


def _fleet_fields(fields: Sequence[FleetField]) -> str:
    out = []
    for f in fields:
        scale = "" if f.scale is None else f", scale={f.scale:g}"
        out.append(f'{{ address={f.address}, name="{f.name}", type="{f.type}"{scale} }}')
    return ",\n      ".join(out)


def render_fleet_config(
    connections: Sequence[FleetConnection], fields: Sequence[FleetField], metrics_url: str,
    instance: str, interval_s: float,
) -> str:  # fmt: skip
    """Return a Telegraf config polling every fleet device each ``interval_s``, at its defaults.

    Defaults except: the interval, millisecond timestamps (as the collector's), an output to
    ``metrics_url`` per connection (OTLP/HTTP, uncompressed as the collector's requests are), a
    buffer of a minute of the fleet so a slow backend drops nothing, drops logged (not quiet).
    """
    devices = max((len(c.devices) for c in connections), default=0)  # buffers are per output
    per_minute = int(devices * 60 / interval_s) + 1
    lines = [
        "[global_tags]",
        f'  instance = "{instance}"',
        "[agent]",
        f'  interval = "{interval_s * 1000:g}ms"',
        '  precision = "1ms"',  # its default rounds timestamps to the interval, 1 s here
        f"  metric_batch_size = {FLEET_BATCH_METRICS}",
        f"  metric_buffer_limit = {max(per_minute, 10 * FLEET_BATCH_METRICS)}",
        "  omit_hostname = true",
    ]
    # One output per connection, as in render_config: one output sends a request at a time and
    # fell behind 5,000 devices a second (its flushes did not complete, nothing landed).
    for index, _connection in enumerate(connections):
        lines += [
            "[[outputs.opentelemetry]]",
            f'  service_address = "{metrics_url}"',
            '  compression = "none"',
            "  [outputs.opentelemetry.tagpass]",
            f'    name = ["fleet-{index}"]',
        ]
    body = _fleet_fields(fields)
    for index, connection in enumerate(connections):
        lines += [
            "[[inputs.modbus]]",
            f'  name = "fleet-{index}"',
            f'  controller = "tcp://127.0.0.1:{connection.port}"',
            '  configuration_type = "request"',
        ]
        for unit, device in connection.devices:
            lines += [
                "  [[inputs.modbus.request]]",
                f"    slave_id = {unit}",
                '    byte_order = "ABCD"',
                '    register = "holding"',
                f'    measurement = "{FLEET_MEASUREMENT}"',
                f"    fields = [\n      {body},\n    ]",
                "    [inputs.modbus.request.tags]",
                f'      device = "{device}"',
            ]
    return "\n".join(lines) + "\n"
