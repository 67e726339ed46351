"""Sentio's rule groups, as data: hourly aggregates, alerts on metrics, alerts on log records."""

from __future__ import annotations

from sentio.dashboards.model import AlertRule, RecordingRule, RuleGroup

from sentio.config import AlertingConfig

READINGS = '{connector!="", device!=""}'
# The metrics that drove a device's score, best first, as the engine explained it.
DRIVERS = (
    '{{ range query (printf "topk(3, sentio_ai_anomaly_driver{device=%q})" $labels.device) }}'
    '{{ .Labels.driver }} ({{ printf "%.2f" .Value }}) {{ end }}'
)
TOP_DRIVER = (
    "{{ with $labels.metric }}{{ . }}{{ else }}"
    '{{ range query (printf "topk(1, sentio_ai_anomaly_driver{device=%q})" $labels.device) }}'
    "{{ .Labels.driver }}{{ end }}{{ end }}"
)


# One collector or AI engine process: the resource attributes every one of its series carries.
PROCESS = "service_name, service_instance_id"
AI_CYCLES = "sentio_ai_cycle_duration_seconds_count"


def _known(metric: str, lookback: str) -> str:
    return f"max by ({PROCESS}) (present_over_time({metric}[{lookback}]))"


def _per_entry(counter: str, window: str) -> str:
    """Return how much ``counter`` grew over ``window``, per connector entry and process."""
    return f"sum by ({PROCESS}, connector, instance) (increase({counter}[{window}]))"


def _down(
    name: str, what: str, metric: str, after: str, lookback: str, impact: str, runbook: str
) -> AlertRule:
    """Return an alert on a process that exported within ``lookback`` and not in ``after``.

    Absent, not ``== 0``: a dead process's series go stale, so a comparison on them returns
    nothing and could never fire.
    """
    return AlertRule(
        name=name,
        expr=f"{_known(metric, lookback)} unless {_known(metric, after)}",
        for_="0s",  # the window is the wait
        severity="critical",
        summary="{{ $labels.service_instance_id }}: " + what + " stopped exporting",
        description=what[0].upper() + what[1:] + " {{ $labels.service_instance_id }} "
        "({{ $labels.service_name }}) exported none of its own metrics for "
        + after
        + ": "
        + impact
        + ".",
        runbook=runbook,
        dashboard="sentio-pipeline",
    )


def _hourly(kind: str, func: str) -> RecordingRule:
    return RecordingRule(
        record=f"sentio:reading:{kind}_1h",
        expr=f'label_copy({func}({READINGS}[1h]) keep_metric_names, "__name__", "metric")',
    )


def recording_group(config: AlertingConfig) -> RuleGroup:
    """Return the hourly per-device aggregates a long-range panel reads instead of raw samples."""
    return RuleGroup(
        name="sentio-hourly",
        language="promql",
        interval=config.recording_interval,
        rules=(
            _hourly("mean", "avg_over_time"),
            _hourly("min", "min_over_time"),
            _hourly("max", "max_over_time"),
            RecordingRule(
                "sentio:anomaly_score:max_1h",
                "max by (device, query, model) (max_over_time(sentio_ai_anomaly_score[1h]))",
            ),
            RecordingRule(
                "sentio:anomaly_score:mean_1h",
                "avg by (device, query, model) (avg_over_time(sentio_ai_anomaly_score[1h]))",
            ),
        ),
    )


def _anomaly(c: AlertingConfig, name: str, expr: str, severity: str) -> AlertRule:
    return AlertRule(
        name=name,
        expr=expr,
        for_=c.anomaly_for,
        severity=severity,
        summary='{{ $labels.device }}: anomaly score {{ printf "%.2f" $value }}',
        description=(
            "{{ $labels.device }} ({{ $labels.query }}, model {{ $labels.model }}) scores "
            '{{ printf "%.2f" $value }}, above '
            + expr.rpartition(" > ")[2]
            + " for "
            + c.anomaly_for
            + "."
        ),
        runbook="Open the device dashboard; check the drivers' readings against their expected "
        "band; inspect the device.",
        dashboard="sentio-device",
        annotations={"metric": TOP_DRIVER, "drivers": DRIVERS, "score": "{{ $value }}"},
    )


def _predicted(name: str, expr: str, severity: str, runbook: str) -> AlertRule:
    crossing = "{{ $labels.metric }} crosses its threshold in {{ humanizeDuration $value }}"
    return AlertRule(
        name=name,
        expr=expr,
        for_="0s",
        severity=severity,
        summary="{{ $labels.device }}: " + crossing,
        description="The trend of {{ $labels.metric }} on {{ $labels.device }}: " + crossing + ".",
        runbook=runbook,
        dashboard="sentio-device",
        annotations={"time_to_threshold": "{{ $value }}", "metric": "{{ $labels.metric }}"},
    )


def alert_group(config: AlertingConfig) -> RuleGroup:
    """Return the alerts on metrics: anomalies, predictions, devices, connectors, the pipeline."""
    c = config
    held = (
        f"max_over_time(sentio_ai_anomaly_score[{c.anomaly_hold}])"
        if c.anomaly_hold.strip("0hms") else "sentio_ai_anomaly_score"
    )  # fmt: skip
    score = f"max by (device, metric, query, model) ({held})"
    ttt = "min by (device, metric, query) (sentio_ai_time_to_threshold_seconds)"
    missed = _per_entry("sentio_collector_poll_missed_total", "10m")
    polls = _per_entry("sentio_collector_poll_duration_seconds_count", "10m")
    return RuleGroup(
        name="sentio-alerts",
        language="promql",
        rules=(
            _anomaly(c, "SentioAnomaly", f"{score} > 1", "warning"),
            _anomaly(c, "SentioAnomalyCritical", f"{score} > {c.critical_score:g}", "critical"),
            _predicted(
                "SentioFaultPredicted",
                f"{ttt} < {c.prediction_warning_s:g} > {c.prediction_critical_s:g}",
                "warning",
                "Plan maintenance before then; the device dashboard shows the forecast.",
            ),
            _predicted(
                "SentioFaultPredictedSoon",
                f"{ttt} <= {c.prediction_critical_s:g}",
                "critical",
                "Act now: the fault is predicted within hours.",
            ),
            AlertRule(
                name="SentioDeviceDown",
                expr="max by (device, connector, instance) (sentio_collector_device_up) == 0",
                for_=c.device_down_for,
                severity="critical",
                summary="{{ $labels.device }} is down",
                description="{{ $labels.device }} ({{ $labels.connector }}) has not answered "
                "for " + c.device_down_for + ".",
                runbook="Check the device's power and network; `sentio stack logs` and the "
                "device's log events name the error.",
                dashboard="sentio-device",
            ),
            AlertRule(
                name="SentioConnectorErrors",
                expr="sum by (connector, instance) (rate(sentio_collector_errors_total[5m])) "
                f"> {c.error_rate_per_s:g}",
                for_="5m",
                severity="warning",
                summary='{{ $labels.connector }}: {{ printf "%.2f" $value }} errors/s',
                description='Connector {{ $labels.connector }} fails {{ printf "%.2f" $value }} '
                "polls or requests per second.",
                runbook="Look at the connector's log events; a device or its bus is failing.",
                dashboard="sentio-pipeline",
            ),
            AlertRule(
                name="SentioSpoolBacklog",
                expr=f"max by ({PROCESS}) (sentio_collector_spool_depth) > 0",
                for_=c.spool_backlog_for,
                severity="warning",
                summary="{{ $labels.service_instance_id }}: {{ $value }} requests wait in the "
                "spool",
                description="A backend has not taken the collector's data for "
                + c.spool_backlog_for
                + "; it is kept on disk and replayed when the backend returns.",
                runbook="Check VictoriaMetrics (`sentio doctor`); free disk for the spool.",
                dashboard="sentio-pipeline",
            ),
            AlertRule(
                name="SentioPollsLate",
                expr=f"{missed} / ({missed} + {polls}) > {c.late_polls_fraction:g}",
                for_="10m",
                severity="warning",
                summary="{{ $labels.instance }}: {{ $value | humanizePercentage }} of poll "
                "ticks missed",
                description="Polls of {{ $labels.instance }} ({{ $labels.connector }}) on "
                "{{ $labels.service_instance_id }} come late: a poll still running at its next "
                "tick skips it. The devices answer slowly, the collector has more devices than "
                "its core keeps up with, or its export is behind "
                "(sentio_collector_queue_paused_total grows).",
                runbook="Lengthen poll_interval_s, shard the devices over more collectors "
                "(`sentio run --shard i/n`), or check the backend (`sentio doctor`).",
                dashboard="sentio-pipeline",
            ),
            AlertRule(
                name="SentioReadingsDropped",
                expr=f"sum by ({PROCESS}) (increase(sentio_collector_queue_dropped_total[10m]) "
                "or increase(sentio_collector_spool_dropped_total[10m])) > 0",
                for_="0s",
                severity="critical",
                summary="{{ $labels.service_instance_id }}: {{ $value }} readings or requests "
                "dropped",
                description="The collector's queue or spool overflowed: data is lost.",
                runbook="Raise collector.queue_limit or spool_max_bytes; bring the backend back.",
                dashboard="sentio-pipeline",
            ),
            AlertRule(
                name="SentioReadingsRefused",
                expr=f"sum by ({PROCESS}) "
                "(increase(sentio_collector_export_refused_requests_total[10m])) > 0",
                for_="0s",
                severity="critical",
                summary="{{ $labels.service_instance_id }}: the metrics backend refused "
                "{{ $value }} requests for good",
                description="The backend answered 4xx to batches of readings (a malformed "
                "request, a wrong URL or credentials, a limit): they are not retried and are "
                "lost.",
                runbook="Read the collector's log for the backend's answer; check "
                "telemetry.metrics (endpoint, headers) and the backend's limits.",
                dashboard="sentio-pipeline",
            ),
            _down(
                "SentioCollectorDown",
                "the collector",
                "sentio_collector_queue_depth",
                c.collector_down_after,
                c.down_lookback,
                "its devices are not read, or their readings not sent",
                "Check `sentio run` is running on that host (its service or pod) and its "
                "stderr; `sentio doctor` checks the backend it exports to.",
            ),
            _down(
                "SentioAIDown",
                "the AI engine",
                AI_CYCLES,
                c.ai_down_after,
                c.down_lookback,
                "anomalies and predictions are not being computed",
                "Check `sentio ai run` is running on that host (its service or pod) and its "
                "stderr; `sentio doctor`.",
            ),
            AlertRule(
                name="SentioNamesRefused",
                expr=f"sum by ({PROCESS}, instance, connector) ("
                "increase(sentio_collector_limit_refused_total[10m]) "
                "or increase(sentio_collector_connector_dropped_total[10m])) > 0",
                for_="0s",
                severity="warning",
                summary="{{ $labels.instance }}: {{ $value }} new names refused or messages "
                "dropped",
                description="A connector entry refused new devices or metric names past "
                "max_devices or max_metrics_per_device, or dropped incoming messages at its "
                "full queue: their readings are not collected.",
                runbook="Look for the WARN naming what was refused; fix the publisher's topics, "
                "or raise max_devices, max_metrics_per_device or broker.max_queued_messages.",
                dashboard="sentio-pipeline",
            ),
            AlertRule(
                name="SentioAIStalled",
                # known in the lookback (so it ran), and no cycle finished since: a running
                # engine that is stuck, or one that stopped
                expr=f"{_known(AI_CYCLES, c.down_lookback)} unless max by ({PROCESS}) "
                f"(increase({AI_CYCLES}[{c.ai_stalled_after}]) > 0)",
                for_="0s",
                severity="warning",
                summary="{{ $labels.service_instance_id }}: the AI engine ran no cycle for "
                + c.ai_stalled_after,
                description="No fit or infer cycle of {{ $labels.service_instance_id }} "
                "({{ $labels.service_name }}) finished in " + c.ai_stalled_after + ": anomalies "
                "and predictions are not being computed.",
                runbook="Check `sentio ai run` is running and its log (a query that fails or "
                "hangs); `sentio doctor`.",
                dashboard="sentio-pipeline",
            ),
        ),
    )


def log_group(config: AlertingConfig) -> RuleGroup:
    """Return the alerts on log records (LogsQL, evaluated by vmalert-logs)."""
    return RuleGroup(
        name="sentio-log-alerts",
        language="logsql",
        rules=(
            AlertRule(
                name="SentioDeviceErrors",
                expr="_time:5m severity_text:=ERROR device:* "
                "| stats by (device, connector) count() as errors | filter errors:>0",
                for_="0s",
                severity="warning",
                summary="{{ $labels.device }}: {{ $value }} ERROR events in 5 minutes",
                description="{{ $labels.device }} ({{ $labels.connector }}) logged {{ $value }} "
                "ERROR records in the last 5 minutes.",
                runbook='Read the device\'s log events (VictoriaLogs: `device:="..."`).',
                dashboard="sentio-device",
            ),
        ),
    )


def rule_groups(config: AlertingConfig) -> tuple[RuleGroup, ...]:
    """Return every rule group Sentio provisions."""
    return (recording_group(config), alert_group(config), log_group(config))
