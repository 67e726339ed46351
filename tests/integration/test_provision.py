"""`sentio provision` against the real vmalert, Alertmanager and VictoriaMetrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sentio.dashboards import provision, rules
from sentio.dashboards.cli import _send_test
from sentio.dashboards.model import AlertRule, RuleGroup
from sentio.simulators.slack import SlackReceiver

from sentio.config import SentioConfig
from sentio.errors import ProvisionError
from sentio.stack.supervisor import Stack
from tests.conftest import free_port


def _quiet(_message: str) -> None:
    pass


async def _groups(session: aiohttp.ClientSession, base: str) -> set[str]:
    async with session.get(f"{base}/api/v1/rules") as resp:
        body: dict[str, Any] = await resp.json()
    return {g["name"] for g in body["data"]["groups"]}


def _with(config: SentioConfig, **alerting: Any) -> SentioConfig:
    data = config.model_dump(mode="json", exclude_none=True)
    data["alerting"] = {**data.get("alerting", {}), **alerting}
    return SentioConfig.model_validate(data)


async def test_provisioning_applies_reloads_and_a_second_run_changes_nothing(
    stack_env: tuple[SentioConfig, Stack],
) -> None:
    config, stack = stack_env
    pids = {n: stack.pid(n) for n in ("vmalert", "vmalert-logs", "alertmanager")}
    for output in provision.outputs(config):  # what other tests provisioned on this stack
        output.path.unlink(missing_ok=True)
    first = await asyncio.to_thread(provision.apply, config, _quiet)
    assert {p.name for p in first.written} >= {"sentio.yml", "alertmanager.yml"}
    assert sorted(first.reloaded) == ["alertmanager", "vmalert", "vmalert-logs"]
    started = time.monotonic()
    second = await asyncio.to_thread(provision.apply, config, _quiet)
    assert second.written == [] and second.reloaded == []
    assert time.monotonic() - started < 5
    async with aiohttp.ClientSession() as session:
        assert {"sentio-hourly", "sentio-alerts"} <= await _groups(
            session, config.stack.url("vmalert")
        )
        assert "sentio-log-alerts" in await _groups(session, config.stack.url("vmalert-logs"))
        async with session.get(f"{config.stack.url('alertmanager')}/api/v2/status") as resp:
            status = await resp.json()
    assert "SentioDeviceDown" in status["config"]["original"]  # the inhibition rules are live
    assert {n: stack.pid(n) for n in pids} == pids, "reloaded, not restarted"
    dashboards = config.stack.stack_config_dir() / "dashboards"
    assert {p.stem for p in dashboards.glob("*.json")} >= {"01-sentio-fleet", "02-sentio-device"}


async def test_a_broken_rule_fails_naming_file_and_rule_and_changes_nothing(
    stack_env: tuple[SentioConfig, Stack],
) -> None:
    config, _ = stack_env
    await asyncio.to_thread(provision.apply, config, _quiet)
    target = config.stack.rules_dir("metrics") / provision.RULE_FILE
    before = target.read_text()
    bad = AlertRule("SentioBroken", "sum(rate(", "0s", "warning", "s", "d", "r", "sentio-fleet")
    changed = _with(config, anomaly_for="3m")
    broken = (*rules.rule_groups(changed.alerting), RuleGroup("sentio-broken", "promql", (bad,)))
    with pytest.raises(ProvisionError) as info:
        await asyncio.to_thread(provision.apply, changed, _quiet, False, broken)
    message = str(info.value)
    assert str(target) in message
    assert "'sentio-broken'" in message and "'SentioBroken'" in message
    assert target.read_text() == before
    async with aiohttp.ClientSession() as session:
        groups = await _groups(session, config.stack.url("vmalert"))
    assert "sentio-broken" not in groups and "sentio-alerts" in groups


@pytest.mark.timeout(180)
async def test_an_alert_waits_for_an_unreachable_slack_and_arrives_when_it_returns(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    port = free_port()
    receiver = SlackReceiver(port=port)
    hook = tmp_path / "hook"
    hook.write_text(receiver.url)
    config = _with(
        stack_config_live,
        group_wait="1s",
        group_interval="2s",
        slack={"webhook_url_file": str(hook)},
    )
    await asyncio.to_thread(provision.apply, config, _quiet)
    device = f"unreachable-{port}"
    await _send_test(config, device)
    # Alertmanager tries, fails (nothing listens), and keeps trying; then Slack comes back
    async with aiohttp.ClientSession() as session:
        metrics = f"{config.stack.url('alertmanager')}/metrics"
        deadline = time.monotonic() + 60
        while True:
            async with session.get(metrics) as resp:
                text = await resp.text()
            failed = [ln for ln in text.splitlines()
                      if ln.startswith('alertmanager_notifications_failed_total{')
                      and 'integration="slack"' in ln and not ln.endswith(" 0")]  # fmt: skip
            if failed:
                break
            assert time.monotonic() < deadline, "Alertmanager never tried the Slack receiver"
            await asyncio.sleep(0.5)
    await receiver.start()
    try:
        message = await receiver.wait_for(lambda m: device in m.text(), 60)
    finally:
        await receiver.stop()
    assert "SentioTest" in message.text()
