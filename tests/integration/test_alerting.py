"""vmalert evaluates rule files from the stack's config folder and notifies Alertmanager."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

import aiohttp

from sentio.config import SentioConfig
from sentio.stack.probe import poll
from sentio.stack.query import Backends, alerts
from sentio.telemetry import setup

PROMQL_RULE = """\
groups:
  - name: sentio-test-always
    rules:
      - alert: {name}
        expr: vector(1)
        labels: {{severity: info}}
        annotations: {{summary: always true}}
"""
LOGSQL_RULE = """\
groups:
  - name: sentio-test-logs
    type: vlogs
    rules:
      - alert: {name}
        expr: '_time:10m marker:="{marker}" | stats count() as records | filter records:>0'
        labels: {{severity: warning}}
        annotations: {{summary: "{{{{ $value }}}} records"}}
"""


async def _reload(session: aiohttp.ClientSession, base: str) -> None:
    async with session.get(f"{base}/-/reload") as resp:
        assert resp.status == 200, await resp.text()


async def _alert(session: aiohttp.ClientSession, base: str, name: str) -> dict[str, Any] | None:
    found = [a for a in await alerts(session, base) if a["labels"].get("alertname") == name]
    return found[0] if found else None


async def test_an_always_true_rule_reaches_alertmanager(stack_config_live: SentioConfig) -> None:
    stack = stack_config_live.stack
    urls = Backends(stack)
    name = f"SentioAlways{uuid.uuid4().hex[:8]}"
    rule = stack.rules_dir("metrics") / f"{name}.yml"
    rule.write_text(PROMQL_RULE.format(name=name))
    try:
        async with aiohttp.ClientSession() as session:
            await _reload(session, urls.vmalert)
            alert = await poll(lambda: _alert(session, urls.alertmanager, name), 60, name)
    finally:
        rule.unlink()
    assert alert["labels"]["severity"] == "info"
    assert alert["annotations"]["summary"] == "always true"
    assert alert["status"]["state"] == "active"
    assert alert["generatorURL"].startswith(urls.vmalert)


async def test_a_logsql_rule_fires_on_log_records(stack_config_live: SentioConfig) -> None:
    config = stack_config_live
    urls = Backends(config.stack)
    name, marker = f"SentioLogs{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    telemetry = setup(config)
    logger = logging.getLogger(f"sentio.test.{marker}")
    logger.propagate = False
    logger.addHandler(telemetry.logging_handler())
    for index in range(3):
        logger.error("device fault %d", index, extra={"marker": marker})
    await asyncio.to_thread(telemetry.shutdown)
    rule = config.stack.rules_dir("logs") / f"{name}.yml"
    rule.write_text(LOGSQL_RULE.format(name=name, marker=marker))
    try:
        async with aiohttp.ClientSession() as session:
            await _reload(session, urls.vmalert_logs)
            alert = await poll(lambda: _alert(session, urls.alertmanager, name), 60, name)
    finally:
        rule.unlink()
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["summary"] == "3 records"
    assert alert["generatorURL"].startswith(urls.vmalert_logs)
