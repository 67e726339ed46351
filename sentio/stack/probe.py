"""Send a metric, a log and a span through Sentio's telemetry; time until each is queryable."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import aiohttp
from opentelemetry.trace import format_trace_id

from sentio.config import SentioConfig
from sentio.errors import StackError
from sentio.stack.query import Backends, exact, logsql, promql, selector, stream_filter, trace
from sentio.telemetry import Telemetry

T = TypeVar("T")
PROBE_METRIC = "sentio.probe.sequence"
PROBE_METRIC_PROMQL = "sentio_probe_sequence"
PROBE_LOGGER = "sentio.probe"
PROBE_DEVICE = "sentio-probe"


async def poll(
    check: Callable[[], Awaitable[T | None]], timeout_s: float, what: str, interval_s: float = 0.05
) -> T:
    """Call ``check`` until it returns a value; raise StackError naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout_s
    last_error: Exception | None = None
    while True:
        try:
            value = await check()
        except StackError as exc:
            value, last_error = None, exc
        if value is not None:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise StackError(f"{what} not queryable within {timeout_s:.0f}s{detail}")
        await asyncio.sleep(interval_s)


@dataclass(frozen=True)
class Sample:
    """One probe: what was sent and how long each signal took to become queryable."""

    sample: str
    trace_id: str
    metric_s: float
    log_s: float
    trace_s: float
    metric: dict[str, Any]
    log: dict[str, Any]
    trace: dict[str, Any]


class Probe:
    """Emit through a Telemetry and read back from the real backends."""

    def __init__(self, config: SentioConfig, telemetry: Telemetry, timeout_s: float = 60.0) -> None:
        self.config = config
        self.telemetry = telemetry
        self.urls = Backends(config.stack)
        self.timeout_s = timeout_s
        meter = telemetry.meter_provider.get_meter("sentio.probe")
        # One series per probe, told apart by value: the latency of a new point on an existing
        # series, which is what a device's readings see.
        self.run_id = uuid.uuid4().hex[:12]
        self.gauge = meter.create_gauge(
            PROBE_METRIC, unit="{sample}", description="Sequence number of a round-trip probe."
        )
        self.tracer = telemetry.tracer_provider.get_tracer("sentio.probe")
        self.logger = logging.getLogger(PROBE_LOGGER)
        self.logger.setLevel(logging.INFO)
        self.logger.propagate = False
        if not any(isinstance(h, type(telemetry.logging_handler())) for h in self.logger.handlers):
            self.logger.addHandler(telemetry.logging_handler())

    def emit(self, sample: str, value: float) -> str:
        """Send one metric point, one log record and one span; return the trace id."""
        attributes = {"probe.sample": sample, "device": PROBE_DEVICE}
        with self.tracer.start_as_current_span("probe", attributes=attributes) as sp:
            self.gauge.set(value, {"probe_run": self.run_id})
            self.logger.info("probe %s", sample, extra=attributes)
            trace_id = format_trace_id(sp.get_span_context().trace_id)
        return trace_id

    async def run(self, session: aiohttp.ClientSession, sample: str, value: float) -> Sample:
        """Emit one sample, flush, and time each signal until it is queryable."""
        started = time.monotonic()
        trace_id = await asyncio.to_thread(self._emit_and_flush, sample, value)
        service = self.config.service.name

        async def metric_found() -> dict[str, Any] | None:
            query = selector(PROBE_METRIC_PROMQL, {"probe_run": self.run_id})
            result = await promql(session, self.urls.vm, query)
            return result[0] if result and float(result[0]["value"][1]) == value else None

        async def log_found() -> dict[str, Any] | None:
            query = f"{stream_filter({'service.name': service})} {exact('trace_id', trace_id)}"
            entries = await logsql(session, self.urls.vl, query, since="10m")
            return entries[0] if entries else None

        async def trace_found() -> dict[str, Any] | None:
            return await trace(session, self.urls.jaeger, trace_id)

        async def timed(
            check: Callable[[], Awaitable[dict[str, Any] | None]], what: str
        ) -> tuple[float, dict[str, Any]]:
            found = await poll(check, self.timeout_s, what)
            return time.monotonic() - started, found

        (m_s, m), (l_s, lg), (t_s, tr) = await asyncio.gather(
            timed(
                metric_found,
                f"{PROBE_METRIC_PROMQL}{{probe_run={self.run_id!r}}} = {value} in VictoriaMetrics",
            ),
            timed(log_found, f"log record with trace_id {trace_id} in VictoriaLogs"),
            timed(trace_found, f"trace {trace_id} in Jaeger"),
        )
        return Sample(sample, trace_id, m_s, l_s, t_s, m, lg, tr)

    def _emit_and_flush(self, sample: str, value: float) -> str:
        trace_id = self.emit(sample, value)
        if not self.telemetry.flush(self.timeout_s):
            raise StackError("telemetry flush timed out; are the backends up?")
        return trace_id
