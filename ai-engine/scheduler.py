"""Run every configured query's fit and infer cycles on schedule, with the engine's own health."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Callable

import aiohttp
from opentelemetry.trace import Status, StatusCode
from sentio.ai_engine.engine import CycleStats, QueryEngine
from sentio.ai_engine.errors import CycleStopped
from sentio.ai_engine.reader import Limits, PromReader
from sentio.ai_engine.writer import FindingWriter

from sentio.config import SentioConfig
from sentio.errors import SentioError
from sentio.otlp import MetricsPusher
from sentio.redact import redact
from sentio.telemetry import Telemetry

Progress = Callable[[str], None]
log = logging.getLogger("sentio.ai")
# in seconds (the SDK's default boundaries suit milliseconds); a 10,000-series fit takes ~100 s
CYCLE_SECONDS = [0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0]


class Scheduler:
    """Own one QueryEngine per query; run each cycle when it is due."""

    def __init__(
        self,
        config: SentioConfig,
        telemetry: Telemetry,
        session: aiohttp.ClientSession,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        ai = config.ai
        limits = Limits(
            ai.max_points_per_series, ai.max_series_per_query, max_query_bytes=ai.max_query_bytes
        )
        reader = PromReader(session, config.query_url(), limits, ai.compress_reads)
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        resource = {k: str(v) for k, v in telemetry.resource.attributes.items()}
        writer = FindingWriter(pusher, resource)
        events = logging.getLogger("sentio.ai.findings")
        self.engines = [
            QueryEngine(q, reader, writer, ai.state_dir, events, shard) for q in ai.queries
        ]
        self.tracer = telemetry.tracer_provider.get_tracer("sentio.ai_engine")
        meter = telemetry.meter_provider.get_meter("sentio.ai_engine")
        self.duration = meter.create_histogram(
            "sentio.ai.cycle.duration", unit="s", description="Fit and infer cycle time.",
            explicit_bucket_boundaries_advisory=CYCLE_SECONDS,
        )  # fmt: skip
        self.series = meter.create_counter(
            "sentio.ai.cycle.series", unit="{series}", description="Series processed."
        )
        self.errors = meter.create_counter(
            "sentio.ai.cycle.errors", unit="{error}", description="Failed cycles."
        )
        self.failed = 0
        self.next_fit: dict[str, float] = {}
        self.next_infer: dict[str, float] = {}

    def restore(self) -> int:
        """Load every query's saved state; return how many were restored."""
        restored = 0
        for engine in self.engines:
            if engine.load():
                restored += 1
                fitted = engine.state.fitted_at or 0.0
                self.next_fit[engine.query.name] = fitted + engine.query.fit_every_s
        return restored

    async def _cycle(self, engine: QueryEngine, phase: str, now: int) -> CycleStats | None:
        attrs = {"query": engine.query.name, "phase": phase}
        with self.tracer.start_as_current_span(f"ai {phase}", attributes=attrs) as span:
            try:
                stats = await (engine.fit(now) if phase == "fit" else engine.infer(now))
            except CycleStopped as exc:
                engine.load()  # the state of the last whole cycle, as saved
                span.set_attribute("stopped", True)
                log.info("%s %s: %s; state kept as of its last whole cycle", phase,
                         engine.query.name, exc, extra=attrs)  # fmt: skip
                return None
            except Exception as exc:
                self.failed += 1
                self.errors.add(1, attrs)
                span.set_status(Status(StatusCode.ERROR, redact(str(exc))))
                span.record_exception(
                    exc,
                    {
                        "exception.message": redact(str(exc)),
                        "exception.stacktrace": redact("".join(traceback.format_exception(exc))),
                    },
                )
                if isinstance(exc, SentioError):
                    log.error("%s %s failed: %s", phase, engine.query.name, exc, extra=attrs)
                else:
                    log.exception("%s %s failed", phase, engine.query.name, extra=attrs)
                return None
            span.set_attributes(
                {"series": stats.series, "findings": stats.findings, "anomalies": stats.anomalies}
            )
        self.duration.record(stats.seconds, attrs)
        self.series.add(stats.series, attrs)
        return stats

    async def run_due(self, now: float | None = None) -> list[CycleStats]:
        """Run every cycle that is due at ``now``; return what they did."""
        now = time.time() if now is None else now
        done: list[CycleStats] = []
        for engine in self.engines:
            if engine.stopping is not None and engine.stopping.is_set():
                break
            q = engine.query
            if now >= self.next_fit.get(q.name, 0.0):
                stats = await self._cycle(engine, "fit", int(now))
                self.next_fit[q.name] = now + (q.fit_every_s if stats else q.infer_every_s)
                done += [stats] if stats else []
            if now >= self.next_infer.get(q.name, 0.0):
                stats = await self._cycle(engine, "infer", int(now))
                self.next_infer[q.name] = now + q.infer_every_s
                done += [stats] if stats else []
        return done

    async def run_forever(self, stop: asyncio.Event, progress: Progress) -> None:
        """Run cycles as they fall due until ``stop`` is set; a running cycle stops at a page."""
        for engine in self.engines:
            engine.stopping = stop
        while not stop.is_set():
            for stats in await self.run_due():
                progress(
                    f"{stats.phase} {stats.query}: {stats.series} series, {stats.findings} "
                    f"samples, {stats.anomalies} anomalies in {stats.seconds:.2f}s"
                )
            due = min([*self.next_fit.values(), *self.next_infer.values()], default=time.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=max(0.5, due - time.time()))
