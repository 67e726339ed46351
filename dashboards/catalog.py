"""Sentio's dashboards, as data: fleet overview, device, anomalies and predictions, pipeline."""

from __future__ import annotations

from sentio.dashboards.model import Dashboard, Link, Panel, Query, Row, Threshold, Variable

AMBER, RED, GREEN = "orange", "red", "green"
SCORE_THRESHOLDS = (Threshold(0.8, AMBER), Threshold(1.0, RED))
ANY_DOWN = (Threshold(1, RED),)
DEVICE = Variable("device", "device", "sentio_collector_device_up")
TO_DEVICE = (Link("Device", "sentio-device"),)

FLEET = Dashboard(
    uid="sentio-fleet",
    title="Sentio · Fleet overview",
    description="Every device at a glance: up or down, what flows, what looks wrong.",
    rows=(
        Row(
            "Devices",
            (
                Panel(
                    "Devices up",
                    "Devices whose last poll or message succeeded.",
                    (Query("sum(sentio_collector_device_up)", instant=True),),
                    unit="none",
                    kind="stat",
                    width=3,
                ),
                Panel(
                    "Devices down",
                    "Devices whose last poll failed, or whose stream is lost.",
                    (Query("count(sentio_collector_device_up == 0) or vector(0)", instant=True),),
                    unit="none",
                    kind="stat",
                    width=3,
                    thresholds=ANY_DOWN,
                ),
                Panel(
                    "Current anomalies",
                    "Devices with an anomaly score above 1 now.",
                    (
                        Query(
                            "count(max by (device) (sentio_ai_anomaly_score) > 1) or vector(0)",
                            instant=True,
                        ),
                    ),
                    unit="none",
                    kind="stat",
                    width=3,
                    thresholds=ANY_DOWN,
                ),
                Panel(
                    "Readings per second",
                    "Readings accepted by the collectors, all connectors.",
                    (Query("sum(rate(sentio_collector_readings_total[5m]))", instant=True),),
                    unit="reqps",
                    kind="stat",
                    width=3,
                ),
            ),
        ),
        Row(
            "Flow and risk",
            (
                Panel(
                    "Readings per second by connector",
                    "Readings accepted, per connector instance.",
                    (
                        Query(
                            "sum by (connector) (rate(sentio_collector_readings_total[5m]))",
                            "{{connector}}",
                        ),
                    ),
                    unit="reqps",
                    width=6,
                ),
                Panel(
                    "Riskiest devices",
                    "Highest anomaly score of each device over the last hour; above 1 is "
                    "anomalous.",
                    (
                        Query(
                            "topk(10, max by (device) "
                            "(max_over_time(sentio_ai_anomaly_score[1h])))",
                            "{{device}}",
                            instant=True,
                        ),
                    ),
                    unit="none",
                    kind="table",
                    width=3,
                    thresholds=SCORE_THRESHOLDS,
                    links=TO_DEVICE,
                ),
                Panel(
                    "Connector errors",
                    "Failed polls and requests per second, per connector.",
                    (
                        Query(
                            "sum by (connector) (rate(sentio_collector_errors_total[5m])) "
                            "or sum by (connector) (sentio_collector_device_up * 0)",
                            "{{connector}}",
                        ),
                    ),
                    unit="reqps",
                    width=3,
                ),
            ),
        ),
        Row(
            "Long range (hourly aggregates)",
            (
                Panel(
                    "Anomaly score, hourly maximum",
                    "Each device's highest score per hour (recording rule "
                    "`sentio:anomaly_score:max_1h`): a year reads 8,760 points per device.",
                    (Query("max by (device) (sentio:anomaly_score:max_1h)", "{{device}}"),),
                    unit="none",
                    width=12,
                    thresholds=SCORE_THRESHOLDS,
                    long_range=True,
                ),
            ),
        ),
    ),
)

DEVICE_VIEW = Dashboard(
    uid="sentio-device",
    title="Sentio · Device",
    description="One device: every reading with its expected band, the anomaly score, the "
    "forecast, its log events and its recent polls.",
    variables=(DEVICE,),
    rows=(
        Row(
            "Readings",
            (
                Panel(
                    "Every reading",
                    "Every metric the device reports, as read.",
                    (Query('{device=~"$device", connector!=""}', "{{__name__}} {{device}}"),),
                    width=6,
                ),
                Panel(
                    "Expected value and band",
                    "What the AI engine expected, with its band; a reading outside it "
                    "scores above 1.",
                    (
                        Query('sentio_ai_expected{device=~"$device"}', "{{metric}} expected"),
                        Query('sentio_ai_expected_lower{device=~"$device"}', "{{metric}} lower"),
                        Query('sentio_ai_expected_upper{device=~"$device"}', "{{metric}} upper"),
                    ),
                    width=6,
                ),
            ),
        ),
        Row(
            "Anomaly and forecast",
            (
                Panel(
                    "Anomaly score",
                    "Above 1 is anomalous; alerts fire when it stays there.",
                    (
                        Query(
                            "max by (device, query, model) "
                            '(sentio_ai_anomaly_score{device=~"$device"})',
                            "{{device}} {{query}} ({{model}})",
                        ),
                    ),
                    unit="none",
                    width=4,
                    thresholds=SCORE_THRESHOLDS,
                ),
                Panel(
                    "What drives the score",
                    "Each metric's share of the device model's score (the explanation).",
                    (
                        Query(
                            'sentio_ai_anomaly_driver{device=~"$device"}',
                            "{{device}} {{driver}}",
                        ),
                    ),
                    unit="none",
                    width=4,
                ),
                Panel(
                    "Time to threshold",
                    "Forecast time until a metric crosses its configured threshold.",
                    (
                        Query(
                            "min by (device, metric) "
                            '(sentio_ai_time_to_threshold_seconds{device=~"$device"})',
                            "{{device}} {{metric}}",
                        ),
                    ),
                    unit="s",
                    width=4,
                    thresholds=(
                        Threshold(0, RED),
                        Threshold(4 * 3600, AMBER),
                        Threshold(24 * 3600, GREEN),
                    ),
                ),
            ),
        ),
        Row(
            "Events and polls",
            (
                Panel(
                    "Log events",
                    "The device's log records (VictoriaLogs): down, recovered, warnings.",
                    (
                        Query(
                            'device:="$device" | sort by (_time) desc | limit 200',
                            language="logsql",
                        ),
                    ),
                    kind="logs",
                    width=6,
                ),
                Panel(
                    "Recent polls",
                    "The collector's poll traces for the device (Jaeger).",
                    (Query("device=$device", language="traces"),),
                    kind="traces",
                    width=6,
                ),
            ),
        ),
        Row(
            "Long range (hourly aggregates)",
            (
                Panel(
                    "Hourly mean, minimum and maximum",
                    "Recording rules `sentio:reading:{mean,min,max}_1h`: a year reads hours, "
                    "not raw samples.",
                    (
                        Query('sentio:reading:mean_1h{device=~"$device"}', "{{metric}} mean"),
                        Query('sentio:reading:min_1h{device=~"$device"}', "{{metric}} min"),
                        Query('sentio:reading:max_1h{device=~"$device"}', "{{metric}} max"),
                    ),
                    width=12,
                    long_range=True,
                ),
            ),
        ),
    ),
)

ANOMALIES = Dashboard(
    uid="sentio-anomalies",
    title="Sentio · Anomalies and predicted faults",
    description="What the AI engine finds now: anomalous devices, what drove them, and "
    "faults predicted within a day.",
    rows=(
        Row(
            "Now",
            (
                Panel(
                    "Anomalous devices",
                    "Device, metric (or the device model), score; above 1 is anomalous.",
                    (
                        Query(
                            "max by (device, metric, query, model) (sentio_ai_anomaly_score) > 1",
                            "{{device}} {{metric}}",
                            instant=True,
                            optional=("metric",),  # a device model's score has none
                        ),
                    ),
                    unit="none",
                    kind="table",
                    width=6,
                    thresholds=SCORE_THRESHOLDS,
                    links=TO_DEVICE,
                ),
                Panel(
                    "Drivers",
                    "The metrics that drove each device's score, and by how much.",
                    (
                        Query(
                            "sentio_ai_anomaly_driver > 0",
                            "{{device}} {{driver}}",
                            instant=True,
                        ),
                    ),
                    unit="none",
                    kind="table",
                    width=6,
                    links=TO_DEVICE,
                ),
            ),
        ),
        Row(
            "Predicted faults",
            (
                Panel(
                    "Predicted within 24 h",
                    "Device, metric and forecast time to its threshold (red under 4 h).",
                    (
                        Query(
                            "min by (device, metric, query) "
                            "(sentio_ai_time_to_threshold_seconds) < 86400",
                            "{{device}} {{metric}}",
                            instant=True,
                        ),
                    ),
                    unit="s",
                    kind="table",
                    width=6,
                    thresholds=(Threshold(0, RED), Threshold(4 * 3600, AMBER)),
                    links=TO_DEVICE,
                ),
                Panel(
                    "Anomaly scores",
                    "Every device's score over time.",
                    (Query("max by (device) (sentio_ai_anomaly_score)", "{{device}}"),),
                    unit="none",
                    width=6,
                    thresholds=SCORE_THRESHOLDS,
                ),
            ),
        ),
    ),
)

PIPELINE = Dashboard(
    uid="sentio-pipeline",
    title="Sentio · Pipeline health",
    description="Sentio itself: poll latency, errors, queue and spool, drops, the AI cycle.",
    rows=(
        Row(
            "Collector",
            (
                Panel(
                    "Poll latency p99",
                    "99th percentile of one poll's duration, per connector.",
                    (
                        Query(
                            "histogram_quantile(0.99, sum by (le, connector) "
                            "(rate(sentio_collector_poll_duration_seconds_bucket[5m])))",
                            "{{connector}}",
                        ),
                    ),
                    unit="s",
                    width=4,
                ),
                Panel(
                    "Errors by connector",
                    "Failed polls and requests per second.",
                    (
                        Query(
                            "sum by (connector) (rate(sentio_collector_errors_total[5m])) "
                            "or sum by (connector) (sentio_collector_device_up * 0)",
                            "{{connector}}",
                        ),
                    ),
                    unit="reqps",
                    width=4,
                ),
                Panel(
                    "Queue and spool depth",
                    "Readings waiting in memory, requests waiting on disk.",
                    (
                        Query("sum(sentio_collector_queue_depth)", "queue (readings)"),
                        Query("sum(sentio_collector_spool_depth)", "spool (requests)"),
                    ),
                    unit="none",
                    width=4,
                ),
            ),
        ),
        Row(
            "Losses and the AI engine",
            (
                Panel(
                    "Dropped",
                    "Readings dropped from a full queue, requests dropped from a full spool; "
                    "anything above 0 is data lost.",
                    (
                        Query(
                            "sum(rate(sentio_collector_queue_dropped_total[5m])) or vector(0)",
                            "queue",
                        ),
                        Query(
                            "sum(rate(sentio_collector_spool_dropped_total[5m])) or vector(0)",
                            "spool",
                        ),
                    ),
                    unit="reqps",
                    width=6,
                    thresholds=(Threshold(0.000001, RED),),
                ),
                Panel(
                    "AI cycle time p90",
                    "How long a fit or infer cycle takes.",
                    (
                        Query(
                            "histogram_quantile(0.9, sum by (le) "
                            "(rate(sentio_ai_cycle_duration_seconds_bucket[15m])))",
                            "p90",
                        ),
                    ),
                    unit="s",
                    width=6,
                ),
            ),
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (FLEET, DEVICE_VIEW, ANOMALIES, PIPELINE)
