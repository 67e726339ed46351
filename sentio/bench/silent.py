"""A dead collector or AI engine reaches Slack: real processes, killed, their alerts timed.

``sentio run`` (reading a simulated pump over Modbus) and ``sentio ai run`` run as processes of
their own against a running native stack with Sentio's rules provisioned and Alertmanager's
Slack receiver pointed at a local Slack stand-in. Killing one (SIGKILL: no last export) must
page as SentioCollectorDown or SentioAIDown, fired by vmalert, sent by Alertmanager.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from sentio.config import SentioConfig
from sentio.dashboards.provision import apply
from sentio.errors import SentioError
from sentio.simulators.fleet import build_fleet
from sentio.simulators.pump import PumpServer, modbus_fields
from sentio.simulators.slack import Message, SlackReceiver
from sentio.stack.probe import poll
from sentio.stack.query import promql
from sentio.stack.supervisor import stop_child

Progress = Callable[[str], None]
# what each component exports while it lives, and the alert its silence fires
ALIVE = {
    "collector": "sentio_collector_queue_depth",
    "ai-engine": "sentio_ai_cycle_duration_seconds_count",
}
ALERTS = {"collector": "SentioCollectorDown", "ai-engine": "SentioAIDown"}
START_TIMEOUT_S = 120.0


class SilentError(SentioError):
    """Raise when a component never started exporting, or its alert never arrived."""


@dataclass(frozen=True)
class Silence:
    """One component killed: what paged, and how long after the kill the message arrived."""

    component: str
    instance_id: str
    alert: str
    seconds: float
    message: Message


def _is_page(message: Message, alert: str, instance_id: str) -> bool:
    text = message.text()
    return "[FIRING" in text and alert in text and instance_id in text


@dataclass
class Components:
    """The running collector and AI engine processes, and the Slack stand-in they page."""

    config: SentioConfig
    receiver: SlackReceiver
    processes: dict[str, subprocess.Popen[bytes]]
    ids: dict[str, str]
    logs: dict[str, Path]

    async def exporting(self, timeout_s: float = START_TIMEOUT_S) -> None:
        """Wait until every component's own metrics are in VictoriaMetrics."""
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            for component, metric in ALIVE.items():
                query = f'count({metric}{{service_instance_id="{self.ids[component]}"}})'

                async def seen(q: str = query, c: str = component) -> bool | None:
                    if self.processes[c].poll() is not None:
                        tail = self.logs[c].read_text(errors="replace")[-2000:]
                        raise SilentError(f"{c} exited before it exported:\n{tail}")
                    got = await promql(session, self.config.query_url(), q)
                    return True if got else None

                await poll(seen, deadline - time.monotonic(), f"{component}'s {metric}", 0.5)

    async def kill(self, component: str, timeout_s: float) -> Silence:
        """SIGKILL ``component``; return its page as the Slack stand-in received it."""
        alert, instance_id = ALERTS[component], self.ids[component]
        seen = len(self.receiver.messages)
        proc = self.processes[component]
        killed = time.time()
        proc.send_signal(signal.SIGKILL)
        await asyncio.to_thread(proc.wait)
        try:
            message = await self.receiver.wait_for(
                lambda m: _is_page(m, alert, instance_id), timeout_s, seen
            )
        except TimeoutError as exc:
            raise SilentError(
                f"{alert} for {instance_id} did not reach Slack within {timeout_s:.0f} s of the "
                f"kill: {exc}"
            ) from None
        return Silence(component, instance_id, alert, message.received_s - killed, message)


def component_configs(
    base: SentioConfig, pump_port: int, webhook_file: Path, workdir: Path,
    alerting: dict[str, Any], ai_query: dict[str, Any], run_id: str,
) -> tuple[SentioConfig, dict[str, SentioConfig]]:  # fmt: skip
    """Return the provisioning config and one config per component (each its own instance id)."""
    data = base.model_dump(mode="json", exclude_none=True)
    instance = f"silent-{run_id}"
    fields = modbus_fields()
    data["connectors"] = [
        {
            "name": instance,
            "type": "modbus",
            "poll_interval_s": 1,
            "config": {
                "connection": {"type": "tcp", "host": "127.0.0.1", "port": pump_port},
                "devices": [{"name": f"{instance}-pump", "unit_id": 1, "fields": fields}],
            },
        }
    ]
    data["collector"] = {**data.get("collector", {}), "spool_dir": str(workdir / "spool")}
    data["ai"] = {
        "state_dir": str(workdir / "ai"),
        "queries": [{"name": instance, "promql": f'{{instance="{instance}"}}', **ai_query}],
    }
    data["alerting"] = {
        **data.get("alerting", {}), **alerting, "slack": {"webhook_url_file": str(webhook_file)}
    }  # fmt: skip
    provisioning = SentioConfig.model_validate(data)
    each = {}
    for component in ALIVE:
        one = {**data, "service": {**data["service"], "instance_id": f"{instance}-{component}"}}
        each[component] = SentioConfig.model_validate(one)
    return provisioning, each


@contextlib.contextmanager
def processes(
    configs: dict[str, SentioConfig], workdir: Path
) -> Iterator[tuple[dict[str, subprocess.Popen[bytes]], dict[str, Path]]]:
    """Run each component (`sentio run`, `sentio ai run`) on its own config; stop them after."""
    sentio = str(Path(sys.executable).with_name("sentio"))
    commands = {"collector": ["run"], "ai-engine": ["ai", "run"]}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    logs: dict[str, Path] = {}
    try:
        for component, config in configs.items():
            path = workdir / f"{component}.yaml"
            path.write_text(yaml.safe_dump(config.model_dump(mode="json", exclude_none=True)))
            logs[component] = workdir / f"{component}.log"
            with logs[component].open("wb") as out:
                procs[component] = subprocess.Popen(
                    [sentio, *commands[component], "-c", str(path)],
                    stdout=out, stderr=subprocess.STDOUT,
                )  # fmt: skip
        yield procs, logs
    finally:
        for proc in procs.values():
            stop_child(proc)


@contextlib.asynccontextmanager
async def running_components(
    base: SentioConfig, workdir: Path, alerting: dict[str, Any], ai_query: dict[str, Any],
    progress: Progress, receiver: SlackReceiver | None = None,
) -> AsyncIterator[Components]:  # fmt: skip
    """Start the Slack stand-in, a pump, provisioning, ``sentio run`` and ``sentio ai run``.

    Given a ``receiver``, the stack is taken as provisioned already, paging that stand-in.
    """
    own = receiver is None
    slack = SlackReceiver() if receiver is None else receiver
    if own:
        await slack.start()
    server = PumpServer(build_fleet(1, False, 0).pumps, advance_every_s=1.0)
    try:
        hook = workdir / "slack-webhook-url"
        hook.write_text(slack.url + "\n", encoding="utf-8")
        hook.chmod(0o600)
        await server.start()
        run_id = uuid.uuid4().hex[:8]
        provisioning, configs = component_configs(
            base, server.port, hook, workdir, alerting, ai_query, run_id
        )
        if own:
            await asyncio.to_thread(apply, provisioning, progress)
        with processes(configs, workdir) as (procs, logs):
            ids = {c: cfg.instance_id() for c, cfg in configs.items()}
            yield Components(provisioning, slack, procs, ids, logs)
    finally:
        await server.stop()
        if own:
            await slack.stop()
