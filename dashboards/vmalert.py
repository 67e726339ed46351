"""Render rule groups as vmalert rule files."""

from __future__ import annotations

from typing import Any

import yaml
from sentio.dashboards.model import AlertRule, RecordingRule, RuleGroup

from sentio.config import SentioConfig


def dashboard_link(config: SentioConfig, uid: str) -> str:
    """Return the link an alert carries to the dashboard ``uid``, for the alert's device."""
    base = config.alerting.dashboard_url
    if base:
        return f"{base.rstrip('/')}/d/{uid}?var-device={{{{ $labels.device }}}}"
    return f"{config.stack.url('victoriametrics')}/vmui/#/dashboards"


def _rule(config: SentioConfig, rule: AlertRule | RecordingRule) -> dict[str, Any]:
    if isinstance(rule, RecordingRule):
        out: dict[str, Any] = {"record": rule.record, "expr": rule.expr}
        if rule.labels:
            out["labels"] = dict(rule.labels)
        return out
    return {
        "alert": rule.name,
        "expr": rule.expr,
        "for": rule.for_,
        "labels": {"severity": rule.severity, **rule.labels},
        "annotations": {
            "summary": rule.summary,
            "description": rule.description,
            "runbook": rule.runbook,
            "dashboard": dashboard_link(config, rule.dashboard),
            **rule.annotations,
        },
    }


def render_group(config: SentioConfig, group: RuleGroup) -> dict[str, Any]:
    """Return one group as vmalert reads it."""
    out: dict[str, Any] = {
        "name": group.name,
        "type": "vlogs" if group.language == "logsql" else "prometheus",
    }
    if group.interval:
        out["interval"] = group.interval
    out["rules"] = [_rule(config, rule) for rule in group.rules]
    return out


def render_file(config: SentioConfig, groups: list[RuleGroup]) -> str:
    """Return the text of one rule file holding ``groups``."""
    header = "# Written by `sentio provision`; edit the rules in sentio.dashboards, not here.\n"
    body = {"groups": [render_group(config, g) for g in groups]}
    return header + yaml.safe_dump(body, sort_keys=False, allow_unicode=True, width=100)
