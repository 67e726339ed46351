"""Silent failures page: real processes, vmalert, Alertmanager and a Slack stand-in.

A killed collector or AI engine, and batches of readings the backend refuses for good. The rules
are Sentio's own, provisioned from `alerting:` with the silence windows shortened the way a user
would shorten them (`collector_down_after`, `ai_down_after`, `ai_stalled_after`).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import aiohttp
import pytest
from sentio.collectors.runtime import Collector
from sentio.dashboards.provision import apply
from sentio.simulators.fleet import build_fleet
from sentio.simulators.pump import PumpServer
from sentio.simulators.slack import SlackReceiver

from sentio.bench.silent import component_configs, running_components
from sentio.config import SentioConfig
from sentio.stack.probe import poll
from sentio.stack.query import alerts
from sentio.telemetry import setup
from tests.unit.collectors.receiver import receiver as refusing

ALERTING = {
    "collector_down_after": "10s",
    "ai_down_after": "10s",
    "ai_stalled_after": "20s",
    "group_wait": "1s",
    "group_interval": "2s",
    "repeat_interval": "1h",
}
AI_QUERY = {"model": "robust", "step_s": 1, "fit_every_s": 3600, "infer_every_s": 1}
# the deadline of each page: the window, the stack's 2 s evaluations, group_wait, and slack
PAGE_DEADLINE_S = 90


@pytest.mark.timeout(400)
async def test_a_killed_collector_and_ai_engine_each_page_slack(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    base = stack_config_live.model_copy(
        update={"telemetry": stack_config_live.telemetry.model_copy(
            update={"export_interval_s": 1.0})}
    )  # fmt: skip
    async with running_components(base, tmp_path, ALERTING, AI_QUERY, lambda _m: None) as run:
        await run.exporting()
        collector = await run.kill("collector", PAGE_DEADLINE_S)
        assert f"SentioCollectorDown on {run.ids['collector']}" in collector.message.text()
        assert "stopped exporting" in collector.message.text()
        assert run.processes["ai-engine"].poll() is None, "the AI engine must outlive this"
        engine = await run.kill("ai-engine", PAGE_DEADLINE_S)
        assert f"SentioAIDown on {run.ids['ai-engine']}" in engine.message.text()

        # a dead engine is stalled too (the rule that could never fire for one): Alertmanager
        # holds SentioAIStalled, inhibited by SentioAIDown, so Slack gets one page, not two
        async with aiohttp.ClientSession() as session:

            async def stalled() -> dict[str, object] | None:
                held = await alerts(session, run.config.stack.url("alertmanager"))
                found = [
                    a for a in held
                    if a["labels"].get("alertname") == "SentioAIStalled"
                    and a["labels"].get("service_instance_id") == run.ids["ai-engine"]
                ]  # fmt: skip
                return found[0] if found else None

            held = await poll(stalled, PAGE_DEADLINE_S, "SentioAIStalled for the dead engine", 1.0)
        assert held["status"]["inhibitedBy"], held  # type: ignore[index]
        texts = [m.text() for m in run.receiver.messages]
        assert not [t for t in texts if "SentioAIStalled" in t and run.ids["ai-engine"] in t]
        assert run.receiver.rejected == 0


@pytest.mark.timeout(300)
async def test_batches_refused_for_good_are_exported_and_page(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    live = stack_config_live
    receiver = SlackReceiver()
    await receiver.start()
    pumps = PumpServer(build_fleet(1, False, 0).pumps, advance_every_s=1.0)
    await pumps.start()
    try:
        hook = tmp_path / "slack-webhook-url"
        hook.write_text(receiver.url + "\n")
        hook.chmod(0o600)
        instance_id = f"refused-{uuid.uuid4().hex[:8]}"
        provisioning, configs = component_configs(
            live, pumps.port, hook, tmp_path, ALERTING, AI_QUERY, instance_id
        )
        await asyncio.to_thread(apply, provisioning, lambda _m: None)
        own = configs["collector"].model_dump(mode="json", exclude_none=True)
        own["service"]["instance_id"] = instance_id
        own["telemetry"]["export_interval_s"] = 1.0
        # the collector's own metrics reach VictoriaMetrics; its readings meet a backend that
        # answers 400 to every batch
        telemetry = setup(SentioConfig.model_validate(own))
        async with refusing(status=400) as backend:
            own["telemetry"]["metrics"] = {"endpoint": backend.url}
            collector = Collector(SentioConfig.model_validate(own), telemetry)
            run = asyncio.create_task(collector.run())
            try:
                page = await receiver.wait_for(
                    lambda m: "[FIRING" in m.text() and "SentioReadingsRefused" in m.text()
                    and instance_id in m.text(),
                    PAGE_DEADLINE_S,
                )  # fmt: skip
            finally:
                collector.stopping.set()
                await asyncio.wait_for(run, 30)
                await asyncio.to_thread(telemetry.shutdown)
        assert collector.refused > 0 and collector.sent == 0
        assert "refused" in page.text() and "for good" in page.text()
    finally:
        await pumps.stop()
        await receiver.stop()
