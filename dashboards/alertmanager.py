"""Render the Alertmanager config: Slack (and webhook) receivers, routes, inhibition, templates."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from sentio.config import SentioConfig
from sentio.errors import ConfigError

TEMPLATE_FILE = "sentio.tmpl"
# One message per group (a device): what fired, on which metric, what drove it, where to look.
TEMPLATES = """\
{{ define "sentio.title" -}}
[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] \
{{ .CommonLabels.alertname }}{{ with .CommonLabels.device }} on {{ . }}{{ else }}\
{{ with .CommonLabels.service_instance_id }} on {{ . }}{{ end }}{{ end }}
{{- end }}

{{ define "sentio.text" -}}
{{ range .Alerts -}}
*{{ .Annotations.summary }}*
device: {{ .Labels.device }} · metric: {{ or .Annotations.metric .Labels.metric "-" }} · \
severity: {{ .Labels.severity }}{{ with .Annotations.score }} · score: {{ . }}{{ end }}
{{ with .Annotations.drivers }}drivers: {{ . }}
{{ end }}{{ .Annotations.description }}
runbook: {{ .Annotations.runbook }}
dashboard: {{ .Annotations.dashboard }}
{{ end }}
{{- end }}
"""
NULL_RECEIVER = "null"


@dataclass(frozen=True)
class Secret:
    """A file the config refers to, and the text to write there (None: it exists already)."""

    path: Path
    text: str | None


def _secret_file(
    config: SentioConfig, name: str, path: Path | None, env: str | None, check: bool = True
) -> Secret:
    """Return where Alertmanager reads a secret URL: the configured file, or one written 0600."""
    if path is not None:
        if check and not path.is_file():
            raise ConfigError(f"alerting: {name}: the file {path} does not exist")
        return Secret(path, None)
    value = os.environ.get(env or "", "").strip()
    if not value:
        raise ConfigError(f"alerting: {name}: set {env} or a file")
    return Secret(config.stack.stack_config_dir() / "secrets" / name, value + "\n")


def slack_secret(config: SentioConfig, check: bool = True) -> Secret | None:
    """Return the Slack webhook URL's file, or None when Slack is not configured."""
    slack = config.alerting.slack
    if slack.webhook_url_file is None and not os.environ.get(slack.webhook_url_env, "").strip():
        return None
    return _secret_file(
        config, "slack_webhook_url", slack.webhook_url_file, slack.webhook_url_env, check
    )


def render(config: SentioConfig, check_files: bool = True) -> tuple[str, list[Secret]]:
    """Return the Alertmanager config text and the secret files it refers to.

    ``check_files=False`` trusts that the files named in the config exist where it runs.
    """
    a = config.alerting
    receivers: list[dict[str, Any]] = [{"name": NULL_RECEIVER}]
    secrets: list[Secret] = []
    routes: list[dict[str, Any]] = []
    slack = slack_secret(config, check_files)
    default = NULL_RECEIVER
    if slack is not None:
        secrets.append(slack)
        slack_config: dict[str, Any] = {
            "api_url_file": str(slack.path),
            "send_resolved": a.send_resolved,
            "title": '{{ template "sentio.title" . }}',
            "text": '{{ template "sentio.text" . }}',
        }
        if a.slack.channel:
            slack_config["channel"] = a.slack.channel
        receivers.append({"name": "slack", "slack_configs": [slack_config]})
        default = "slack"
    for hook in a.webhooks:
        target: dict[str, Any] = {"send_resolved": a.send_resolved}
        if hook.url_file is not None:
            secret = _secret_file(config, f"webhook_{hook.name}", hook.url_file, None, check_files)
            secrets.append(secret)
            target["url_file"] = str(secret.path)
        elif hook.url:
            target["url"] = hook.url
        else:
            raise ConfigError(f"alerting.webhooks: {hook.name}: give `url` or `url_file`")
        receivers.append({"name": f"webhook-{hook.name}", "webhook_configs": [target]})
        routes.append({"receiver": f"webhook-{hook.name}", "continue": True})
    if routes and default != NULL_RECEIVER:
        routes.append({"receiver": default})
    body: dict[str, Any] = {
        "route": {
            "receiver": default,
            "group_by": list(a.group_by),
            "group_wait": a.group_wait,
            "group_interval": a.group_interval,
            "repeat_interval": a.repeat_interval,
            **({"routes": routes} if routes else {}),
        },
        "inhibit_rules": [
            {
                # a device that is down does not also page for what it no longer reports
                "source_matchers": ['alertname="SentioDeviceDown"'],
                "target_matchers": [
                    'alertname=~"SentioAnomaly.*|SentioFaultPredicted.*|SentioDeviceErrors"'
                ],
                "equal": ["device"],
            },
            {
                # an engine that stopped is not also stalled
                "source_matchers": ['alertname="SentioAIDown"'],
                "target_matchers": ['alertname="SentioAIStalled"'],
                "equal": ["service_instance_id"],
            },
            {
                "source_matchers": ['alertname="SentioAnomalyCritical"'],
                "target_matchers": ['alertname="SentioAnomaly"'],
                "equal": ["device", "query"],
            },
            {
                "source_matchers": ['alertname="SentioFaultPredictedSoon"'],
                "target_matchers": ['alertname="SentioFaultPredicted"'],
                "equal": ["device", "metric"],
            },
        ],
        "receivers": receivers,
        "templates": [str(template_path(config))],
    }
    header = "# Written by `sentio provision` from sentio.yaml's `alerting:`; edit that instead.\n"
    return header + yaml.safe_dump(body, sort_keys=False, width=100), secrets


def template_path(config: SentioConfig) -> Path:
    """Return where the message templates are written."""
    return config.stack.stack_config_dir() / "alertmanager-templates" / TEMPLATE_FILE
