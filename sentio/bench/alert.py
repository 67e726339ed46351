"""Fault to Slack: a simulated pump, the collector, the AI engine, vmalert, Alertmanager, Slack.

The rig runs two simulated pumps over Modbus, the collector and the AI engine (the device model
over each pump's metrics) in this process, against a running native stack with Sentio's rules
provisioned and Alertmanager's Slack receiver pointed at a local Slack stand-in. Injecting a
fault into pump 2 must reach the stand-in as Alertmanager's message, not through Sentio's code.

Two sets of settings: ``rig`` (short debounce and waits, inference every 2 s: what the pipeline
itself adds) and ``default`` (what a user gets: ``anomaly_for`` 2m, ``group_wait`` 30s, 15 s
evaluations, inference every 60 s). Both read the pumps every second at 1 s steps: the device
model needs a few hundred rows of healthy history, which at the default 60 s step would take
hours.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from sentio.ai_engine.scheduler import Scheduler
from sentio.collectors.runtime import Collector
from sentio.config import AIQueryConfig, AlertingConfig, SentioConfig, VmalertConfig
from sentio.dashboards.provision import apply
from sentio.simulators.faults import Drift, Fault
from sentio.simulators.fleet import build_fleet
from sentio.simulators.pump import Pump, PumpServer, modbus_fields
from sentio.simulators.slack import Message, SlackReceiver
from sentio.stack.probe import poll
from sentio.stack.query import alerts, promql
from sentio.telemetry import setup

Progress = Callable[[str], None]
INSTANCE = "alert-pumps"
QUERY = "alert-pumps"
TREND_QUERY = "alert-pump-trend"
LOGGERS = ("sentio.ai", "sentio.collector")
# device names of their own, so other work on the same stack cannot be mistaken for theirs
HEALTHY, FAULTY = "alert-pump-1", "alert-pump-2"
STAGGER_S = 23.0  # apart from 15 s evaluations and 60 s inference: other phases each time


def faulty(count: int) -> list[str]:
    """Return the names of ``count`` pumps that get faults (FAULTY first)."""
    return [f"alert-pump-{u}" for u in range(2, 2 + count)]


# vibration climbing 2 mm/s every second: unmistakable within a few polls
FAULT: Fault = Drift("vibration", 7200.0)
# The device model needs this much history: with 60 rows it still alarms on healthy noise, and
# with 130 a healthy pump still touches 1.2 for a few seconds now and then.
HEALTHY_ROWS = 200
# the rig's debounce: longer than a healthy pump's brief touches of 1
ANOMALY_FOR = "8s"
GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_seconds(text: str) -> float:
    """Return the seconds of a Go duration such as ``1m30s``."""
    return sum(float(n) * UNIT_S[u] for n, u in GO_DURATION.findall(text))


@dataclass(frozen=True)
class Settings:
    """The alerting and pipeline settings one measurement runs at."""

    name: str
    anomaly_for: str
    anomaly_hold: str
    group_wait: str
    group_interval: str
    evaluation_interval: str
    infer_every_s: float
    export_interval_s: float | None = None  # None: the defaults'
    flush_interval_s: float | None = None
    # pumps faulted at once, STAGGER_S apart (each its own alert group); 1: one at a time
    parallel: int = 1

    @property
    def bound_s(self) -> float:
        """Return the bound on the p50: anomaly_for + 2 evaluations + group_wait + 10 s."""
        return (
            go_seconds(self.anomaly_for) + 2 * go_seconds(self.evaluation_interval)
            + go_seconds(self.group_wait) + 10.0
        )  # fmt: skip


def rig_settings(evaluation_interval: str = "10s") -> Settings:
    """Return the rig's settings: short debounce and waits, inference every 2 s."""
    return Settings("rig", ANOMALY_FOR, "0s", "1s", "3s", evaluation_interval, 2.0, 2, 0.5)


def default_settings(parallel: int = 1) -> Settings:
    """Return the settings a user gets without configuring any."""
    alerting = AlertingConfig()
    return Settings(
        "default", alerting.anomaly_for, alerting.anomaly_hold, alerting.group_wait,
        alerting.group_interval, VmalertConfig().evaluation_interval,
        float(AIQueryConfig.model_fields["infer_every_s"].default), parallel=parallel,
    )  # fmt: skip


def rig_config(
    base: SentioConfig, pump_port: int, webhook_file: Path, state_dir: Path,
    settings: Settings | None = None,
) -> SentioConfig:  # fmt: skip
    """Return ``base`` with the pumps' connector, the AI query and alerting set for ``settings``."""
    s = settings or rig_settings()
    data = base.model_dump(mode="json", exclude_none=True)
    if s.export_interval_s is not None:
        data["telemetry"]["export_interval_s"] = s.export_interval_s
    if s.flush_interval_s is not None:
        data["collector"] = {**data.get("collector", {}), "flush_interval_s": s.flush_interval_s}
    fields = modbus_fields()
    data["connectors"] = [
        {
            "name": INSTANCE,
            "type": "modbus",
            "poll_interval_s": 1,
            "config": {
                "connection": {"type": "tcp", "host": "127.0.0.1", "port": pump_port},
                "devices": [
                    {"name": name, "unit_id": int(name.rsplit("-", 1)[1]), "fields": fields}
                    for name in (HEALTHY, *faulty(s.parallel))
                ],
            },
        }
    ]
    data["ai"] = {
        "state_dir": str(state_dir),
        "queries": [
            {
                "name": QUERY,
                # the readings only: not Sentio's own series, nor the hourly aggregates
                "promql": f'{{instance="{INSTANCE}", __name__!~"sentio[_:].*"}}',
                "group_by": ["device"],
                "model": "multivariate",
                "step_s": 1,
                # fitted once, on demand, when HEALTHY_ROWS of healthy history are in
                "fit_every_s": 86400,
                "fit_window_s": HEALTHY_ROWS + 30,
                "infer_every_s": s.infer_every_s,
            },
            {
                # the faulty pump's vibration alone, with its expected band and a forecast
                "name": TREND_QUERY,
                "promql": f'vibration_mm_per_second{{instance="{INSTANCE}", device="{FAULTY}"}}',
                "model": "robust",
                "step_s": 1,
                "fit_every_s": 86400,
                "infer_every_s": s.infer_every_s,
                "threshold": {"value": 500, "direction": "above"},
                "forecast_window_s": 60,
            },
        ],
    }
    data["alerting"] = {
        **data.get("alerting", {}),
        "anomaly_for": s.anomaly_for,
        "anomaly_hold": s.anomaly_hold,
        "group_wait": s.group_wait,
        "group_interval": s.group_interval,
        "repeat_interval": "1h",
        "recording_interval": "10s",
        "slack": {"webhook_url_file": str(webhook_file)},
    }
    return SentioConfig.model_validate(data)


def _active(alert: dict[str, Any]) -> bool:
    """Return whether Alertmanager still holds ``alert`` as firing (not resolved)."""
    ends = datetime.fromisoformat(str(alert["endsAt"]).replace("Z", "+00:00"))
    return bool(ends > datetime.now(UTC))


def _is(message: Message, status: str, alertname: str, device: str) -> bool:
    text = message.text()
    return f"[{status.upper()}" in text and alertname + " on " + device in text


def _anomaly_page(message: Message, status: str, device: str = FAULTY) -> str | None:
    """Return which anomaly alert of ``device`` ``message`` is, with ``status``, if any."""
    for name in ("SentioAnomaly", "SentioAnomalyCritical"):
        if _is(message, status, name, device):
            return name
    return None


@dataclass
class Rig:
    """The running pipeline, and the Slack stand-in it ends in."""

    config: SentioConfig
    receiver: SlackReceiver
    server: PumpServer
    scheduler: Scheduler
    progress: Progress
    paged: dict[str, str] = field(default_factory=dict)  # the alert each pump's fault paged

    @property
    def pump(self) -> Pump:
        """Return the simulated pump that gets the faults."""
        return self.pump_of(FAULTY)

    def pump_of(self, device: str) -> Pump:
        """Return the simulated pump ``device``."""
        return self.server.pumps[int(device.rsplit("-", 1)[1])]

    async def scored(self, timeout_s: float) -> None:
        """Wait for enough healthy history, fit the device model, wait until it scores both."""
        deadline = time.monotonic() + timeout_s
        history = (
            f'min(count_over_time(vibration_mm_per_second{{instance="{INSTANCE}"}}'
            f"[{HEALTHY_ROWS + 30}s]))"
        )
        scores = f'count(sentio_ai_anomaly_score{{query="{QUERY}", model="multivariate"}})'
        async with aiohttp.ClientSession() as session:

            async def at_least(query: str, count: int) -> bool | None:
                got = await promql(session, self.config.query_url(), query)
                return True if got and float(got[0]["value"][1]) >= count else None

            await poll(
                lambda: at_least(history, HEALTHY_ROWS),
                deadline - time.monotonic(),
                f"{HEALTHY_ROWS} healthy readings of each pump",
                1.0,
            )
            self.scheduler.next_fit[QUERY] = 0.0  # fit now, on healthy history only
            pumps = len(self.server.pumps)
            await poll(
                lambda: at_least(scores, pumps),
                deadline - time.monotonic(),
                f"the device model's scores of all {pumps} pumps",
                1.0,
            )

    async def settled(self, timeout_s: float, device: str = FAULTY) -> None:
        """Wait until ``device`` scores below 1 for a while and none of its alerts is on."""
        quiet = f'max(max_over_time(sentio_ai_anomaly_score{{device="{device}"}}[30s]))'
        async with aiohttp.ClientSession() as session:

            async def calm() -> bool | None:
                score = await promql(session, self.config.query_url(), quiet)
                held = await alerts(session, self.config.stack.url("alertmanager"))
                on = [a for a in held if a["labels"].get("device") == device and _active(a)]
                low = bool(score) and float(score[0]["value"][1]) < 1
                return True if low and not on else None

            await poll(calm, timeout_s, f"{device} calm: scores below 1, no alert on", 1.0)

    async def fire(self, timeout_s: float, device: str = FAULTY) -> tuple[float, Message]:
        """Inject the fault; return how long the first anomaly page took, and the message.

        The page is SentioAnomaly or, when the score crosses both levels between two
        evaluations (as it does with inference every minute), SentioAnomalyCritical, which
        inhibits its warning twin: either is the page a person gets.
        """
        seen = len(self.receiver.messages)
        injected = time.time()
        self.pump_of(device).inject(FAULT)
        message = await self.receiver.wait_for(
            lambda m: _anomaly_page(m, "firing", device) is not None, timeout_s, seen
        )
        self.paged[device] = _anomaly_page(message, "firing", device) or "SentioAnomaly"
        return message.received_s - injected, message

    async def clear(self, timeout_s: float, device: str = FAULTY) -> tuple[float, Message]:
        """Clear the fault; return how long the page's resolved message took, and the message."""
        seen = len(self.receiver.messages)
        cleared = time.time()
        self.pump_of(device).clear_faults()
        paged = self.paged.get(device, "SentioAnomaly")
        message = await self.receiver.wait_for(
            lambda m: _is(m, "resolved", paged, device), timeout_s, seen
        )
        return message.received_s - cleared, message


@contextlib.asynccontextmanager
async def running_rig(
    base: SentioConfig, workdir: Path, progress: Progress, settings: Settings | None = None
) -> AsyncIterator[Rig]:
    """Start the Slack stand-in, the pumps, provisioning, the collector and the AI engine."""
    receiver = SlackReceiver()
    await receiver.start()
    hook = workdir / "slack-webhook-url"
    hook.write_text(receiver.url + "\n", encoding="utf-8")
    hook.chmod(0o600)
    fleet = build_fleet(1 + (settings.parallel if settings else 1), False, 0)
    server = PumpServer(fleet.pumps, advance_every_s=1.0)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    telemetry = None
    try:
        await server.start()
        config = rig_config(base, server.port, hook, workdir / "ai", settings)
        await asyncio.to_thread(apply, config, progress)
        telemetry = setup(config, **{"sentio.bench": "alert"})
        handler = telemetry.logging_handler()
        for name in LOGGERS:  # the engine's findings and the devices' events to VictoriaLogs
            logging.getLogger(name).addHandler(handler)
        collector = Collector(config, telemetry)
        async with aiohttp.ClientSession() as session:
            scheduler = Scheduler(config, telemetry, session)
            tasks = [
                asyncio.create_task(collector.run()),
                asyncio.create_task(scheduler.run_forever(stop, lambda _m: None)),
            ]
            try:
                yield Rig(config, receiver, server, scheduler, progress)
            finally:
                stop.set()
                collector.stopping.set()
                await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        await server.stop()
        await receiver.stop()
        if telemetry is not None:
            for name in LOGGERS:
                logging.getLogger(name).removeHandler(handler)
            await asyncio.to_thread(telemetry.shutdown)


@dataclass(frozen=True)
class AlertReport:
    """Fault-to-Slack latency over the runs at one set of settings (seconds)."""

    settings: str
    runs: int
    p50_s: float
    max_s: float
    min_s: float
    resolved_p50_s: float
    evaluation_interval: str
    anomaly_for: str
    anomaly_hold: str
    group_wait: str
    infer_every_s: float
    bound_s: float  # anomaly_for + 2 evaluations + group_wait + 10 s
    within_bound: bool
    latencies_s: list[float]
    resolved_s: list[float]
    pages: list[str]


@dataclass(frozen=True)
class SilentReport:
    """Kill-to-Slack time of SentioCollectorDown and SentioAIDown at one set of settings."""

    settings: str
    runs: int
    collector_down_after: str
    ai_down_after: str
    evaluation_interval: str
    group_wait: str
    collector_p50_s: float
    ai_p50_s: float
    collector_s: list[float]
    ai_s: list[float]


async def _round(
    rig: Rig, s: Settings, fire_s: float, clear_s: float
) -> list[tuple[str, float, float]]:
    """Fault ``s.parallel`` pumps STAGGER_S apart, then clear them; return each one's timings."""
    devices = faulty(s.parallel)
    for device in devices:
        await rig.settled(300 + s.infer_every_s, device)

    async def fire(index: int, device: str) -> float:
        await asyncio.sleep(index * STAGGER_S)
        return (await rig.fire(fire_s, device))[0]

    async def clear(index: int, device: str) -> float:
        await asyncio.sleep(index * STAGGER_S)
        return (await rig.clear(clear_s, device))[0]

    fired = await asyncio.gather(*(fire(i, d) for i, d in enumerate(devices)))
    back = await asyncio.gather(*(clear(i, d) for i, d in enumerate(devices)))
    return [(rig.paged[d], f, r) for d, f, r in zip(devices, fired, back, strict=True)]


async def measure(
    config: SentioConfig, runs: int, workdir: Path, progress: Progress,
    settings: Settings | None = None, silent_runs: int = 0,
) -> tuple[AlertReport, SilentReport | None]:  # fmt: skip
    """Fire and clear the fault ``runs`` times; time each firing and resolved message.

    With ``settings.parallel`` above 1 the runs are rounds of that many pumps faulted at once,
    and ``silent_runs`` dead-component pages are timed meanwhile, into the same Slack stand-in.
    """
    s = settings or rig_settings(config.stack.vmalert.evaluation_interval)
    fired: list[float] = []
    resolved: list[float] = []
    pages: list[str] = []
    fire_s = 2 * s.bound_s + s.infer_every_s + 60 + s.parallel * STAGGER_S
    clear_s = (
        go_seconds(s.group_interval) + go_seconds(s.anomaly_hold) + s.infer_every_s
        + 4 * go_seconds(s.evaluation_interval) + 120 + s.parallel * STAGGER_S
    )  # fmt: skip
    silent: SilentReport | None = None
    async with running_rig(config, workdir, progress, s) as rig:
        progress(
            f"{s.name}: waiting for {HEALTHY_ROWS} s of healthy readings, then the device "
            "model's first scores (about four minutes)"
        )
        await rig.scored(400 + s.infer_every_s)
        dead = (
            asyncio.create_task(
                measure_silent(config, silent_runs, workdir, progress, s, rig.receiver)
            )
            if silent_runs
            else None
        )
        try:
            for _ in range(runs if s.parallel == 1 else 1):
                for page, latency, back in await _round(rig, s, fire_s, clear_s):
                    fired.append(latency)
                    pages.append(page)
                    resolved.append(back)
                    progress(
                        f"{s.name} run {len(fired)}/{runs}: {page} after {latency:.1f}s, "
                        f"resolved after {back:.1f}s"
                    )
            if dead is not None:
                silent = await dead
        finally:
            if dead is not None and not dead.done():
                dead.cancel()
                await asyncio.gather(dead, return_exceptions=True)
    p50 = statistics.median(fired)
    report = AlertReport(
        settings=s.name,
        runs=len(fired),
        p50_s=round(p50, 2),
        max_s=round(max(fired), 2),
        min_s=round(min(fired), 2),
        resolved_p50_s=round(statistics.median(resolved), 2),
        evaluation_interval=s.evaluation_interval,
        anomaly_for=s.anomaly_for,
        anomaly_hold=s.anomaly_hold,
        group_wait=s.group_wait,
        infer_every_s=s.infer_every_s,
        bound_s=s.bound_s,
        within_bound=p50 <= s.bound_s,
        latencies_s=[round(v, 2) for v in fired],
        resolved_s=[round(v, 2) for v in resolved],
        pages=pages,
    )
    return report, silent


SILENT_STAGGER_S = 7.0


async def measure_silent(
    config: SentioConfig,
    runs: int,
    workdir: Path,
    progress: Progress,
    settings: Settings,
    receiver: SlackReceiver | None = None,
) -> SilentReport:
    """Kill ``runs`` collector and AI engine processes; time each one's page to Slack.

    The pairs run at once and are killed ``SILENT_STAGGER_S`` apart, so each kill meets the
    evaluation schedule at another phase, as independent runs would, in one wait.
    """
    from sentio.bench.silent import Components, Silence, running_components

    alerting = AlertingConfig()
    ai_query = {"model": "robust", "step_s": 1, "infer_every_s": settings.infer_every_s}
    setup_alerting = {
        "group_wait": settings.group_wait, "group_interval": settings.group_interval,
        "repeat_interval": "1h",
    }  # fmt: skip
    bound = go_seconds(alerting.collector_down_after) + 2 * go_seconds(
        settings.evaluation_interval
    ) + go_seconds(settings.group_wait) + 60 + runs * SILENT_STAGGER_S  # fmt: skip
    async with contextlib.AsyncExitStack() as stack:
        pairs: list[Components] = []
        for index in range(runs):
            folder = workdir / f"silent-{settings.name}-{index}"
            folder.mkdir(parents=True, exist_ok=True)
            pairs.append(
                await stack.enter_async_context(
                    running_components(config, folder, setup_alerting, ai_query, progress, receiver)
                )
            )
        for pair in pairs:
            await pair.exporting()
        progress(f"{settings.name}: killing {runs} collector and AI engine pairs")

        async def one(index: int, pair: Components) -> tuple[Silence, Silence]:
            await asyncio.sleep(index * SILENT_STAGGER_S)
            collector, ai = await asyncio.gather(
                pair.kill("collector", bound), pair.kill("ai-engine", bound)
            )
            return collector, ai

        done = await asyncio.gather(*(one(i, p) for i, p in enumerate(pairs)))
    collector_s = [round(c.seconds, 2) for c, _ in done]
    ai_s = [round(a.seconds, 2) for _, a in done]
    progress(f"{settings.name}: collector pages after {collector_s} s, AI engine after {ai_s} s")
    return SilentReport(
        settings=settings.name,
        runs=runs,
        collector_down_after=alerting.collector_down_after,
        ai_down_after=alerting.ai_down_after,
        evaluation_interval=settings.evaluation_interval,
        group_wait=settings.group_wait,
        collector_p50_s=round(statistics.median(collector_s), 2),
        ai_p50_s=round(statistics.median(ai_s), 2),
        collector_s=collector_s,
        ai_s=ai_s,
    )


def run(
    runs: int, evaluation_interval: str, workdir: Path, progress: Progress,
    settings: list[str] | None = None, silent_runs: int = 3,
) -> dict[str, Any]:  # fmt: skip
    """Measure each of ``settings`` on a stack of its own (free loopback ports), then stop it.

    ``evaluation_interval`` is the rig's; the defaults run at vmalert's default. With
    ``silent_runs``, the dead-component pages are timed at the defaults too (a collector and an
    AI engine process killed, ``collector_down_after`` and ``ai_down_after`` at theirs).
    """
    from sentio.stack.backends import backends
    from sentio.stack.install import install
    from sentio.stack.ports import free_stack_ports
    from sentio.stack.supervisor import Stack
    from sentio.stack.versions import load_versions

    every = backends(load_versions())
    install(every.values(), None, progress)
    chosen = {"rig": rig_settings(evaluation_interval), "default": default_settings(runs)}
    report: dict[str, Any] = {}
    for name in settings or ["rig", "default"]:
        s = chosen[name]
        ports = free_stack_ports()
        ports["vmalert"]["evaluation_interval"] = s.evaluation_interval
        folder = workdir / name
        config = SentioConfig.model_validate(
            {
                "service": {"name": f"sentio-bench-alert-{name}"},
                "stack": {"data_dir": str(folder / "stack"), **ports},
            }
        )
        stack = Stack(config.stack, every)
        asyncio.run(stack.up(progress))
        try:
            silent_n = silent_runs if name == "default" else 0
            result, silent = asyncio.run(measure(config, runs, folder, progress, s, silent_n))
            report[name] = asdict(result)
            progress(f"{name}: {json.dumps(report[name])}")
            if silent is not None:
                report[f"{name}_dead_component"] = asdict(silent)
        finally:
            asyncio.run(stack.down(progress=progress))
    return report
