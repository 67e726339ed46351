"""Fault to Slack: a simulated pump, the collector, the AI engine, vmalert, Alertmanager, Slack.

The rig runs two simulated pumps over Modbus, the collector and the AI engine (the device model
over each pump's metrics) in this process, against a running native stack with Sentio's rules
provisioned and Alertmanager's Slack receiver pointed at a local Slack stand-in. Injecting a
fault into pump 2 must reach the stand-in as Alertmanager's message, not through Sentio's code.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from sentio.ai_engine.scheduler import Scheduler
from sentio.collectors.runtime import Collector
from sentio.config import SentioConfig
from sentio.dashboards.provision import apply
from sentio.simulators.faults import Drift, Fault
from sentio.simulators.fleet import build_fleet
from sentio.simulators.pump import POINTS, Pump, PumpServer
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
# vibration climbing 2 mm/s every second: unmistakable within a few polls
FAULT: Fault = Drift("vibration", 7200.0)
# The device model needs this much history: with 60 rows it still alarms on healthy noise, and
# with 130 a healthy pump still touches 1.2 for a few seconds now and then.
HEALTHY_ROWS = 200
# the rule's debounce: longer than a healthy pump's brief touches of 1
ANOMALY_FOR = "8s"


def rig_config(
    base: SentioConfig, pump_port: int, webhook_file: Path, state_dir: Path
) -> SentioConfig:
    """Return ``base`` with the pumps' connector, the AI query and alerting set for the rig."""
    data = base.model_dump(mode="json", exclude_none=True)
    data["telemetry"]["export_interval_s"] = 2
    data["collector"] = {**data.get("collector", {}), "flush_interval_s": 0.5}
    fields = [
        {"name": p.metric, "table": "input", "address": p.input_address, "type": "float32",
         "unit": p.unit}
        for p in POINTS
    ]  # fmt: skip
    data["connectors"] = [
        {
            "name": INSTANCE,
            "type": "modbus",
            "poll_interval_s": 1,
            "config": {
                "connection": {"type": "tcp", "host": "127.0.0.1", "port": pump_port},
                "devices": [
                    {"name": name, "unit_id": int(name.rsplit("-", 1)[1]), "fields": fields}
                    for name in (HEALTHY, FAULTY)
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
                "infer_every_s": 2,
            },
            {
                # the faulty pump's vibration alone, with its expected band and a forecast
                "name": TREND_QUERY,
                "promql": f'vibration_mm_per_second{{instance="{INSTANCE}", device="{FAULTY}"}}',
                "model": "robust",
                "step_s": 1,
                "fit_every_s": 86400,
                "infer_every_s": 2,
                "threshold": {"value": 500, "direction": "above"},
                "forecast_window_s": 60,
            },
        ],
    }
    data["alerting"] = {
        **data.get("alerting", {}),
        "anomaly_for": ANOMALY_FOR,
        "anomaly_hold": "0s",
        "group_wait": "1s",
        "group_interval": "3s",
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


@dataclass
class Rig:
    """The running pipeline, and the Slack stand-in it ends in."""

    config: SentioConfig
    receiver: SlackReceiver
    server: PumpServer
    scheduler: Scheduler
    progress: Progress

    @property
    def pump(self) -> Pump:
        """Return the simulated pump that gets the faults."""
        return self.server.pumps[int(FAULTY.rsplit("-", 1)[1])]

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
            await poll(
                lambda: at_least(scores, 2),
                deadline - time.monotonic(),
                "the device model's scores of both pumps",
                1.0,
            )

    async def settled(self, timeout_s: float) -> None:
        """Wait until the faulty pump scores below 1 for a while and none of its alerts is on."""
        quiet = f'max(max_over_time(sentio_ai_anomaly_score{{device="{FAULTY}"}}[30s]))'
        async with aiohttp.ClientSession() as session:

            async def calm() -> bool | None:
                score = await promql(session, self.config.query_url(), quiet)
                held = await alerts(session, self.config.stack.url("alertmanager"))
                on = [a for a in held if a["labels"].get("device") == FAULTY and _active(a)]
                low = bool(score) and float(score[0]["value"][1]) < 1
                return True if low and not on else None

            await poll(calm, timeout_s, f"{FAULTY} calm: scores below 1, no alert on", 1.0)

    async def fire(self, timeout_s: float) -> tuple[float, Message]:
        """Inject the fault; return how long the firing message took, and the message."""
        seen = len(self.receiver.messages)
        injected = time.time()
        self.pump.inject(FAULT)
        message = await self.receiver.wait_for(
            lambda m: _is(m, "firing", "SentioAnomaly", FAULTY), timeout_s, seen
        )
        return message.received_s - injected, message

    async def clear(self, timeout_s: float) -> tuple[float, Message]:
        """Clear the fault; return how long the resolved message took, and the message."""
        seen = len(self.receiver.messages)
        cleared = time.time()
        self.pump.clear_faults()
        message = await self.receiver.wait_for(
            lambda m: _is(m, "resolved", "SentioAnomaly", FAULTY), timeout_s, seen
        )
        return message.received_s - cleared, message


@contextlib.asynccontextmanager
async def running_rig(base: SentioConfig, workdir: Path, progress: Progress) -> AsyncIterator[Rig]:
    """Start the Slack stand-in, the pumps, provisioning, the collector and the AI engine."""
    receiver = SlackReceiver()
    await receiver.start()
    hook = workdir / "slack-webhook-url"
    hook.write_text(receiver.url + "\n", encoding="utf-8")
    hook.chmod(0o600)
    fleet = build_fleet(2, False, 0)
    server = PumpServer(fleet.pumps, advance_every_s=1.0)
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    telemetry = None
    try:
        await server.start()
        config = rig_config(base, server.port, hook, workdir / "ai")
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
    """Fault-to-Slack latency over the runs (seconds)."""

    runs: int
    p50_s: float
    max_s: float
    min_s: float
    resolved_p50_s: float
    evaluation_interval: str
    latencies_s: list[float]


async def measure(
    config: SentioConfig, runs: int, workdir: Path, progress: Progress
) -> AlertReport:
    """Fire and clear the fault ``runs`` times; time each firing and resolved message."""
    fired: list[float] = []
    resolved: list[float] = []
    async with running_rig(config, workdir, progress) as rig:
        progress(
            f"waiting for {HEALTHY_ROWS} s of healthy readings, then the device model's first "
            "scores (about four minutes)"
        )
        await rig.scored(400)
        for index in range(runs):
            await rig.settled(300)
            latency, _ = await rig.fire(180)
            fired.append(latency)
            back, _ = await rig.clear(240)
            resolved.append(back)
            progress(
                f"run {index + 1}/{runs}: fired after {latency:.1f}s, resolved after {back:.1f}s"
            )
    return AlertReport(
        runs=runs,
        p50_s=round(statistics.median(fired), 2),
        max_s=round(max(fired), 2),
        min_s=round(min(fired), 2),
        resolved_p50_s=round(statistics.median(resolved), 2),
        evaluation_interval=config.stack.vmalert.evaluation_interval,
        latencies_s=[round(v, 2) for v in fired],
    )


def run(runs: int, evaluation_interval: str, workdir: Path, progress: Progress) -> AlertReport:
    """Start a stack of its own on free loopback ports, measure ``runs`` faults, stop it."""
    from sentio.stack.backends import backends
    from sentio.stack.install import install
    from sentio.stack.ports import free_stack_ports
    from sentio.stack.supervisor import Stack
    from sentio.stack.versions import load_versions

    ports = free_stack_ports()
    ports["vmalert"]["evaluation_interval"] = evaluation_interval
    config = SentioConfig.model_validate(
        {
            "service": {"name": "sentio-bench-alert"},
            "stack": {"data_dir": str(workdir / "stack"), **ports},
        }
    )
    every = backends(load_versions())
    install(every.values(), None, progress)
    stack = Stack(config.stack, every)
    asyncio.run(stack.up(progress))
    try:
        return asyncio.run(measure(config, runs, workdir, progress))
    finally:
        asyncio.run(stack.down(progress=progress))
