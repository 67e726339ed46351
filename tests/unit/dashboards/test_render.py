from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sentio.dashboards import alertmanager, catalog, grafana, rules, vmalert, vmui
from sentio.dashboards.model import AlertRule

from sentio.config import SentioConfig
from sentio.errors import ConfigError

VMUI_PANEL_KEYS = {"title", "description", "unit", "expr", "alias", "showLegend", "width"}


def test_vmui_gets_every_promql_panel_with_variables_matching_all() -> None:
    for dashboard in catalog.DASHBOARDS:
        out = vmui.render(dashboard)
        assert out["title"] == dashboard.title
        panels = [p for row in out["rows"] for p in row["panels"]]
        promql = [p for p in dashboard.panels() if p.language == "promql"]
        assert [p["title"] for p in panels] == [p.title for p in promql]
        for panel in panels:
            assert set(panel) == VMUI_PANEL_KEYS
            assert len(panel["expr"]) == len(panel["alias"])
            assert all("$device" not in e for e in panel["expr"])
    device = vmui.render(catalog.DEVICE_VIEW)
    exprs = [e for row in device["rows"] for p in row["panels"] for e in p["expr"]]
    assert 'sentio_ai_expected{device=~".+"}' in exprs
    assert "Log events" not in json.dumps(device)  # vmui draws no logs


@pytest.mark.parametrize("dashboard", catalog.DASHBOARDS, ids=lambda d: d.uid)
def test_grafana_dashboards_round_trip_through_the_sdk_models(dashboard: object) -> None:
    data = grafana.to_json(dashboard)  # type: ignore[arg-type]
    assert grafana.round_trip(data) == data
    assert data["uid"] == dashboard.uid  # type: ignore[attr-defined]
    panels = [p for p in data["panels"] if p["type"] != "row"]
    assert len(panels) == len(dashboard.panels())  # type: ignore[attr-defined]
    for panel in panels:
        for target in panel["targets"]:
            assert target["datasource"]["uid"].startswith("sentio-")


def test_the_device_dashboard_is_templated_and_links_logs_and_traces() -> None:
    data = grafana.to_json(catalog.DEVICE_VIEW)
    variables = {v["name"]: v for v in data["templating"]["list"]}
    assert variables["device"]["query"]["query"] == (
        "label_values(sentio_collector_device_up, device)"
    )
    types = {p["title"]: p["type"] for p in data["panels"]}
    assert types["Log events"] == "logs" and types["Recent polls"] == "table"
    logs = next(p for p in data["panels"] if p["title"] == "Log events")
    assert logs["targets"][0]["datasource"]["type"] == grafana.VL_PLUGIN
    assert 'device:="$device"' in logs["targets"][0]["expr"]


def test_datasources_link_traces_and_logs_both_ways() -> None:
    sources = {d["uid"]: d for d in grafana.datasources(SentioConfig())}
    assert sources[grafana.VM_UID]["type"] == "prometheus"
    assert sources[grafana.VL_UID]["type"] == "victoriametrics-logs-datasource"
    to_trace = sources[grafana.VL_UID]["jsonData"]["derivedFields"][0]
    assert to_trace["datasourceUid"] == grafana.JAEGER_UID
    to_logs = sources[grafana.JAEGER_UID]["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == grafana.VL_UID and "trace_id" in to_logs["query"]
    assert sources[grafana.AM_UID]["jsonData"]["implementation"] == "prometheus"
    loki = sources[grafana.LOKI_UID]
    assert loki["type"] == "loki" and loki["url"] == "http://127.0.0.1:3100"
    [derived] = loki["jsonData"]["derivedFields"]
    assert derived["datasourceUid"] == grafana.JAEGER_UID
    assert derived["matcherType"] == "label" and derived["matcherRegex"] == "trace_id"


def test_every_alert_says_what_how_bad_where_and_what_to_do() -> None:
    config = SentioConfig()
    groups = rules.rule_groups(config.alerting)
    alerts = [r for g in groups for r in g.rules if isinstance(r, AlertRule)]
    names = {a.name for a in alerts}
    assert {"SentioAnomaly", "SentioAnomalyCritical", "SentioFaultPredicted",
            "SentioFaultPredictedSoon", "SentioDeviceDown", "SentioConnectorErrors",
            "SentioSpoolBacklog", "SentioReadingsDropped", "SentioReadingsRefused",
            "SentioAIStalled", "SentioCollectorDown", "SentioAIDown",
            "SentioDeviceErrors", "SentioNamesRefused", "SentioPollsLate"} <= names  # fmt: skip
    rendered = yaml.safe_load(vmalert.render_file(config, list(groups)))
    for group in rendered["groups"]:
        for rule in group["rules"]:
            if "alert" in rule:
                assert rule["labels"]["severity"] in {"warning", "critical"}
                assert {"summary", "description", "runbook", "dashboard"} <= set(
                    rule["annotations"]
                )
    types = {g["name"]: g["type"] for g in rendered["groups"]}
    assert types == {"sentio-hourly": "prometheus", "sentio-alerts": "prometheus",
                     "sentio-log-alerts": "vlogs"}  # fmt: skip


def test_a_silent_component_is_found_by_absence_not_by_a_comparison_on_stale_series() -> None:
    config = SentioConfig.model_validate(
        {"alerting": {"collector_down_after": "45s", "ai_down_after": "1m",
                      "ai_stalled_after": "7m", "down_lookback": "6h"}}
    )  # fmt: skip
    by_name = {
        r.name: r for g in rules.rule_groups(config.alerting) for r in g.rules
        if isinstance(r, AlertRule)
    }  # fmt: skip
    down = by_name["SentioCollectorDown"].expr
    assert "present_over_time(sentio_collector_queue_depth[6h])" in down
    assert down.endswith("unless max by (service_name, service_instance_id) "
                         "(present_over_time(sentio_collector_queue_depth[45s]))")  # fmt: skip
    assert "[1m]" in by_name["SentioAIDown"].expr
    stalled = by_name["SentioAIStalled"].expr
    # `increase(...) == 0` returns nothing once the engine's series are stale: never again
    assert "== 0" not in stalled and " unless " in stalled and "[7m]) > 0" in stalled
    for name in ("SentioCollectorDown", "SentioAIDown", "SentioAIStalled"):
        assert "$labels.service_instance_id" in by_name[name].summary


def test_thresholds_come_from_the_config() -> None:
    config = SentioConfig.model_validate(
        {"alerting": {"prediction_warning_s": 7200, "prediction_critical_s": 600,
                      "anomaly_for": "5m", "dashboard_url": "https://grafana.example"}}
    )  # fmt: skip
    text = vmalert.render_file(config, list(rules.rule_groups(config.alerting)))
    assert "< 7200 > 600" in text and "<= 600" in text and "for: 5m" in text
    assert "https://grafana.example/d/sentio-device?var-device={{ $labels.device }}" in text


def test_the_slack_url_goes_to_a_private_file_never_into_the_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "https://hooks.slack.invalid/services/T1/B2/very-secret"
    monkeypatch.setenv("SENTIO_SLACK_WEBHOOK_URL", secret)
    config = SentioConfig.model_validate({"stack": {"data_dir": str(tmp_path)}})
    text, secrets = alertmanager.render(config)
    assert secret not in text
    [file] = secrets
    assert file.text == secret + "\n" and file.path.parent.name == "secrets"
    body = yaml.safe_load(text)
    assert body["route"]["receiver"] == "slack"
    assert body["receivers"][1]["slack_configs"][0]["api_url_file"] == str(file.path)
    inhibit = body["inhibit_rules"][0]
    assert inhibit["source_matchers"] == ['alertname="SentioDeviceDown"']
    assert inhibit["equal"] == ["device"]


def test_without_slack_alerts_go_nowhere_and_a_webhook_is_routed_beside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SENTIO_SLACK_WEBHOOK_URL", raising=False)
    config = SentioConfig.model_validate(
        {"stack": {"data_dir": str(tmp_path)},
         "alerting": {"webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/hook"}]}}
    )  # fmt: skip
    body = yaml.safe_load(alertmanager.render(config)[0])
    assert body["route"]["receiver"] == "null"
    assert body["route"]["routes"] == [{"receiver": "webhook-ops", "continue": True}]
    missing = SentioConfig.model_validate(
        {"alerting": {"slack": {"webhook_url_file": str(tmp_path / "nope")}}}
    )
    with pytest.raises(ConfigError, match="does not exist"):
        alertmanager.render(missing)


def test_provisioning_writes_the_slack_secret_privately(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sentio.dashboards import provision

    monkeypatch.setenv("SENTIO_SLACK_WEBHOOK_URL", "https://hooks.slack.invalid/services/x")
    config = SentioConfig.model_validate({"stack": {"data_dir": str(tmp_path)}})
    [secret] = [o for o in provision.outputs(config) if o.mode == provision.SECRET_MODE]
    staged = provision._stage(secret)
    assert staged.stat().st_mode & 0o777 == 0o600
    assert staged.parent.stat().st_mode & 0o777 == 0o700


def test_the_anomaly_rule_holds_the_score_over_short_dips_unless_the_hold_is_zero() -> None:
    held = SentioConfig.model_validate({"alerting": {"anomaly_hold": "3m"}})
    text = vmalert.render_file(held, list(rules.rule_groups(held.alerting)))
    assert "max_over_time(sentio_ai_anomaly_score[3m])) > 1" in text
    plain = SentioConfig.model_validate({"alerting": {"anomaly_hold": "0s"}})
    text = vmalert.render_file(plain, list(rules.rule_groups(plain.alerting)))
    assert "score[0s]" not in text
    assert "model) (sentio_ai_anomaly_score) > 1" in text
