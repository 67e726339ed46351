"""Render dashboards and datasources for Grafana with the Grafana Foundation SDK.

The SDK is pinned to its build for Grafana 11.6's schema (`grafana-foundation-sdk==
1769699379!11.6.0`); the output targets Grafana 11.x and 12.x, which read that schema. The SDK
has no query types for VictoriaLogs or Jaeger, so their targets are plain JSON in the SDK's own
bag for unknown queries, which its models read back unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.builders import logs, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.runtime import UnknownDataquery
from grafana_foundation_sdk.models import dashboard as gm
from sentio.dashboards.model import Dashboard, Panel, Query, Variable

from sentio.config import SentioConfig

SCHEMA = "Grafana 11.6"
VM_UID, VL_UID, JAEGER_UID, AM_UID, LOKI_UID = (
    "sentio-victoriametrics",
    "sentio-victorialogs",
    "sentio-jaeger",
    "sentio-alertmanager",
    "sentio-loki",
)
VL_PLUGIN = "victoriametrics-logs-datasource"
DATASOURCE_TYPES = {VM_UID: "prometheus", VL_UID: VL_PLUGIN, JAEGER_UID: "jaeger"}
PANEL_HEIGHT = 8
COLORS = {"green": "green", "orange": "orange", "red": "red"}


def ref(uid: str) -> gm.DataSourceRef:
    """Return a reference to one of Sentio's datasources."""
    return gm.DataSourceRef(type_val=DATASOURCE_TYPES[uid], uid=uid)


class RawQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    """A query the SDK has no type for, as the datasource plugin reads it."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = dict(data)

    def build(self) -> cogvariants.Dataquery:
        """Return the query in the SDK's bag for unknown query types."""
        return UnknownDataquery(self.data)


def _target(query: Query, ref_id: str) -> cogbuilder.Builder[cogvariants.Dataquery]:
    if query.language == "logsql":
        return RawQuery(
            {"refId": ref_id, "datasource": {"type": VL_PLUGIN, "uid": VL_UID},
             "expr": query.expr, "queryType": "instant" if query.instant else "range"}
        )  # fmt: skip
    if query.language == "traces":
        key, _, value = query.expr.partition("=")
        return RawQuery(
            {"refId": ref_id, "datasource": {"type": "jaeger", "uid": JAEGER_UID},
             "queryType": "search", "service": "${service}", "tags": f"{key}={value}",
             "limit": 20}
        )  # fmt: skip
    target = prometheus.Dataquery().expr(query.expr).ref_id(ref_id).datasource(ref(VM_UID))
    if query.legend:
        target = target.legend_format(query.legend)
    return target.instant() if query.instant else target.range()


def _thresholds(panel: Panel) -> gd.ThresholdsConfig:
    steps = [gm.Threshold(value=None, color="green")]
    steps += [gm.Threshold(value=t.value, color=COLORS[t.color]) for t in panel.thresholds]
    return gd.ThresholdsConfig().mode(gm.ThresholdsMode.ABSOLUTE).steps(steps)


def _panel(panel: Panel) -> cogbuilder.Builder[gm.Panel]:
    builder: Any
    if panel.kind == "stat":
        builder = stat.Panel()
    elif panel.kind in ("table", "traces"):
        builder = table.Panel()
    elif panel.kind == "logs":
        builder = logs.Panel().show_time(True).wrap_log_message(True).enable_log_details(True)
    else:
        builder = timeseries.Panel()
    builder = builder.title(panel.title).description(panel.description)
    builder = builder.span(min(24, panel.width * 2)).height(PANEL_HEIGHT)
    if panel.kind not in ("logs", "traces"):
        builder = builder.unit(panel.unit).thresholds(_thresholds(panel))
    for index, query in enumerate(panel.queries):
        builder = builder.with_target(_target(query, chr(ord("A") + index)))
    for link in panel.links:
        suffix = "?${__url_time_range}&var-device=${__data.fields.device}"
        builder = builder.links(
            [gd.DashboardLink(link.title).type(gm.DashboardLinkType.LINK)
             .url(f"/d/{link.dashboard}{suffix}")]
        )  # fmt: skip
    return builder  # type: ignore[no-any-return]


def _variable(variable: Variable) -> gd.QueryVariable:
    query = f"label_values({variable.metric}, {variable.label})"
    return (
        gd.QueryVariable(variable.name)
        .label(variable.name)
        .query({"query": query, "refId": "variable"})
        .datasource(ref(VM_UID))
        .refresh(gm.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .multi(variable.multi)
        .include_all(False)
    )


def build(dashboard: Dashboard) -> gm.Dashboard:
    """Return ``dashboard`` as the SDK's Grafana dashboard model."""
    builder = (
        gd.Dashboard(dashboard.title)
        .uid(dashboard.uid)
        .description(dashboard.description)
        .tags(list(dashboard.tags))
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .editable()
    )
    for variable in dashboard.variables:
        builder = builder.with_variable(_variable(variable))
    if any(p.kind == "traces" for p in dashboard.panels()):
        builder = builder.with_variable(
            gd.ConstantVariable("service").value("sentio")  # the collector's service.name
        )
    for row in dashboard.rows:
        builder = builder.with_row(gd.Row(row.title))
        for panel in row.panels:
            builder = builder.with_panel(_panel(panel))
    return builder.build()


def to_json(dashboard: Dashboard) -> dict[str, Any]:
    """Return the dashboard JSON Grafana reads."""
    data: dict[str, Any] = json.loads(json.dumps(build(dashboard), cls=JSONEncoder))
    return data


def round_trip(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``data`` read into the SDK's dashboard model and written back."""
    model = gm.Dashboard.from_json(dict(data))
    out: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
    return out


def datasources(config: SentioConfig) -> list[dict[str, Any]]:
    """Return Sentio's datasources as Grafana's API and provisioning files take them."""
    urls = config.grafana.datasource_urls(config.stack)
    return [
        {
            "uid": VM_UID,
            "name": "Sentio VictoriaMetrics",
            "type": "prometheus",
            "access": "proxy",
            "url": urls["victoriametrics"],
            "isDefault": True,
            "jsonData": {"httpMethod": "POST", "prometheusType": "Prometheus"},
        },
        {
            "uid": VL_UID,
            "name": "Sentio VictoriaLogs",
            "type": VL_PLUGIN,
            "access": "proxy",
            "url": urls["victorialogs"],
            "jsonData": {
                # a record's trace id opens its trace in Jaeger
                "derivedFields": [
                    {
                        "name": "trace_id",
                        "matcherType": "label",
                        "matcherRegex": "trace_id",
                        "datasourceUid": JAEGER_UID,
                        "url": "${__value.raw}",
                    }
                ]
            },
        },
        {
            "uid": JAEGER_UID,
            "name": "Sentio Jaeger",
            "type": "jaeger",
            "access": "proxy",
            "url": urls["jaeger"],
            "jsonData": {
                # a span opens the log records of its trace in VictoriaLogs
                "tracesToLogsV2": {
                    "datasourceUid": VL_UID,
                    "customQuery": True,
                    "query": 'trace_id:="${__trace.traceId}"',
                    "spanStartTimeShift": "-5m",
                    "spanEndTimeShift": "5m",
                }
            },
        },
        {
            # Grafana's built-in Loki datasource on Sentio's Loki API (LogQL over VictoriaLogs)
            "uid": LOKI_UID,
            "name": "Sentio Loki (LogQL)",
            "type": "loki",
            "access": "proxy",
            "url": urls["loki-api"],
            "jsonData": {
                "maxLines": 1000,
                # a record's trace_id label opens its trace in Jaeger
                "derivedFields": [
                    {
                        "name": "trace_id",
                        "matcherType": "label",
                        "matcherRegex": "trace_id",
                        "datasourceUid": JAEGER_UID,
                        "url": "${__value.raw}",
                        "urlDisplayLabel": "Trace in Jaeger",
                    }
                ],
            },
        },
        {
            "uid": AM_UID,
            "name": "Sentio Alertmanager",
            "type": "alertmanager",
            "access": "proxy",
            "url": urls["alertmanager"],
            "jsonData": {"implementation": "prometheus", "handleGrafanaManagedAlerts": False},
        },
    ]
