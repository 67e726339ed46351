"""Load, substitute and validate Sentio's YAML configuration."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from sentio.errors import ConfigError
from sentio.yaml_events import LOADER, load_yaml

SUBST = re.compile(r"\$\{(?P<expr>[^}]*)\}")
Loc = tuple[str | int, ...]
UserPath = Annotated[Path, AfterValidator(lambda path: path.expanduser())]


class Strict(BaseModel):
    """Base of every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServiceConfig(Strict):
    """Identity of this Sentio process on the OTel resource."""

    name: str = Field("sentio", description="OTel `service.name`.")
    instance_id: str | None = Field(
        None, description="OTel `service.instance.id`; the host name when unset."
    )
    host_name: str | None = Field(None, description="OTel `host.name`; the host name when unset.")


Port = Annotated[int, Field(ge=1, le=65535)]
Retention = Annotated[str, Field(pattern=r"^[0-9]+(h|d|w|y)$")]
GoDuration = Annotated[str, Field(pattern=r"^([0-9]+(ms|s|m|h))+$")]


class VictoriaMetricsConfig(Strict):
    """Native VictoriaMetrics: metrics, PromQL and the built-in UI at `/vmui`."""

    port: Port = Field(8428, description="HTTP port (API, OTLP ingest, /health, /vmui).")
    retention: Retention = Field("30d", description="`-retentionPeriod`, e.g. `30d`, `1y`.")
    dedup_min_scrape_interval: GoDuration | None = Field(
        None,
        description="`-dedup.minScrapeInterval`: keep one sample per series per interval. Set it "
        "(to the poll interval or more) when collectors are sharded with `replication` above 1, "
        "so the replicas' copies of one reading count once.",
    )


class VictoriaLogsClusterConfig(Strict):
    """VictoriaLogs in cluster mode: storage nodes behind one insert/select front.

    The front listens on `stack.victorialogs.port`, so every client (OTLP logs, vmalert-logs,
    LogsQL) is unchanged; it spreads inserts over the storage nodes and queries them all.
    """

    storage_nodes: int = Field(2, ge=1, le=16, description="How many storage nodes to run.")
    storage_ports: list[Port] = Field(
        default_factory=list,
        description="HTTP port of each storage node; `port + 1`, `port + 2`, ... when empty.",
    )
    allow_partial_response: bool = Field(
        False,
        description="`-search.allowPartialResponse` on the front: answer queries from the nodes "
        "that are up instead of failing with HTTP 502 while one is away (a client may still ask "
        "per query with `allow_partial_response=1`).",
    )

    @model_validator(mode="after")
    def _ports_match_nodes(self) -> VictoriaLogsClusterConfig:
        if self.storage_ports and len(self.storage_ports) != self.storage_nodes:
            raise ValueError(
                f"storage_ports names {len(self.storage_ports)} port(s) for "
                f"{self.storage_nodes} storage node(s)"
            )
        return self


class VictoriaLogsConfig(Strict):
    """Native VictoriaLogs: logs, LogsQL and the built-in UI at `/select/vmui`."""

    port: Port = Field(9428, description="HTTP port (OTLP ingest, LogsQL, /health, UI).")
    retention: Retention = Field("30d", description="`-retentionPeriod` of log records.")
    stream_fields: list[str] = Field(
        default_factory=lambda: ["service.name", "host.name"],
        description="Resource attributes that name a log stream (`VL-Stream-Fields`). Keep them "
        "few and of low cardinality: one stream per process and host, the device a plain field.",
    )
    cluster: VictoriaLogsClusterConfig | None = Field(
        None, description="Run VictoriaLogs as a cluster on this host; single-node when unset."
    )

    def storage_port(self, index: int) -> int:
        """Return the HTTP port of cluster storage node ``index``."""
        cluster = self.cluster or VictoriaLogsClusterConfig()
        return cluster.storage_ports[index] if cluster.storage_ports else self.port + 1 + index


class JaegerConfig(Strict):
    """Native Jaeger v2: traces over OTLP, stored in Badger, queried by id."""

    query_port: Port = Field(16686, description="Query API (`/api/traces/<id>`) and UI.")
    query_grpc_port: Port = Field(16685, description="Query API over gRPC.")
    otlp_http_port: Port = Field(4318, description="OTLP/HTTP receiver (`/v1/traces`).")
    otlp_grpc_port: Port = Field(4317, description="OTLP/gRPC receiver.")
    health_port: Port = Field(13133, description="Health check (`/status`).")
    metrics_port: Port = Field(8888, description="Jaeger's own Prometheus metrics.")
    retention: GoDuration = Field(
        "168h", description="Badger TTL of spans (Go duration, e.g. 168h)."
    )


class VmalertConfig(Strict):
    """Native vmalert: alerting and recording rules, one instance per datasource."""

    port: Port = Field(8880, description="HTTP port of the vmalert for PromQL rules.")
    logs_port: Port = Field(8881, description="HTTP port of `vmalert-logs`, for LogsQL rules.")
    evaluation_interval: GoDuration = Field("15s", description="`-evaluationInterval`.")


class LokiApiConfig(Strict):
    """Sentio's Loki-compatible read API: LogQL translated to LogsQL over VictoriaLogs."""

    port: Port = Field(3100, description="HTTP port (Loki's /loki/api/v1/*, /ready).")


class AlertmanagerConfig(Strict):
    """Native Prometheus Alertmanager: grouping, inhibition and notifications."""

    port: Port = Field(9093, description="HTTP port (API v2, /-/healthy).")
    retention: GoDuration = Field("120h", description="`--data.retention` of silences and log.")
    external_url: str | None = Field(
        None, description="`--web.external-url` for links in notifications; from host and port."
    )
    run_as: str | None = Field(
        None,
        pattern=r"^\d+:\d+$",
        description="`uid:gid` Alertmanager runs as when that is another user (in docker compose "
        "the image's nobody, 65534:65534): `sentio provision`, run as root, gives it the secret "
        "files it reads, readable by it alone.",
    )


class StackConfig(Strict):
    """Where and how `sentio stack` runs the backends natively."""

    host: str = Field("127.0.0.1", description="Address every backend binds to.")
    data_dir: UserPath = Field(
        Path("~/.local/share/sentio"),
        description="Backends' data, logs and pid files.",
        validate_default=True,
    )
    config_dir: UserPath | None = Field(
        None,
        description="The stack's own config folder (vmalert rules, Alertmanager's config); "
        "`<data_dir>/config` when unset.",
    )
    bin_dir: UserPath | None = Field(
        None, description="Where built backends live; `~/.cache/sentio/bin` when unset."
    )
    start_timeout_s: float = Field(90.0, gt=0, description="Health wait per backend.")
    victoriametrics: VictoriaMetricsConfig = VictoriaMetricsConfig()
    victorialogs: VictoriaLogsConfig = VictoriaLogsConfig()
    jaeger: JaegerConfig = JaegerConfig()
    vmalert: VmalertConfig = VmalertConfig()
    alertmanager: AlertmanagerConfig = AlertmanagerConfig()
    loki_api: LokiApiConfig = LokiApiConfig()

    def rules_dir(self, kind: Literal["metrics", "logs"]) -> Path:
        """Return the folder whose `*.yml` / `*.yaml` files a vmalert instance evaluates."""
        return self.stack_config_dir() / "rules" / kind

    def stack_config_dir(self) -> Path:
        """Return the stack's own config folder."""
        return self.config_dir or self.data_dir / "config"

    def url(self, backend: str) -> str:
        """Return the base HTTP URL of a native backend."""
        port = {
            "victoriametrics": self.victoriametrics.port,
            "victorialogs": self.victorialogs.port,
            "jaeger": self.jaeger.query_port,
            "vmalert": self.vmalert.port,
            "vmalert-logs": self.vmalert.logs_port,
            "alertmanager": self.alertmanager.port,
            "loki-api": self.loki_api.port,
        }[backend]
        return f"http://{self.host}:{port}"


class TLSConfig(Strict):
    """TLS options of one OTLP/HTTP exporter."""

    ca_file: Path | None = Field(None, description="CA bundle that signs the server's certificate.")
    cert_file: Path | None = Field(None, description="Client certificate (mutual TLS).")
    key_file: Path | None = Field(None, description="Client private key (mutual TLS).")


class ExporterConfig(Strict):
    """One OTLP/HTTP exporter: where to send, with which headers and TLS."""

    endpoint: str | None = Field(None, description="Full URL; derived from `stack` when unset.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")
    timeout_s: float = Field(10.0, gt=0)
    tls: TLSConfig = TLSConfig()


class TelemetryConfig(Strict):
    """OTLP export of metrics, logs and traces."""

    metrics: ExporterConfig = ExporterConfig()
    logs: ExporterConfig = ExporterConfig()
    traces: ExporterConfig = ExporterConfig()
    export_interval_s: float = Field(10.0, gt=0, description="Metric export interval.")
    max_attribute_sets: int = Field(
        100_000,
        ge=1,
        description="Distinct attribute sets (devices, mostly) each of Sentio's own metrics "
        "keeps; past it the metrics SDK merges the rest into one point labelled "
        "`otel_metric_overflow` (its own default, 2,000, is fewer devices than one collector "
        "may poll).",
    )


class ThresholdConfig(Strict):
    """A limit a series must not cross, for fault prediction."""

    value: float
    direction: Literal["above", "below"] = "above"


class AIQueryConfig(Strict):
    """One PromQL query the AI engine scores, with its schedule."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Becomes the `query` label.")
    promql: str = Field(min_length=1, description="Query whose series are scored.")
    group_by: list[str] = Field(
        default_factory=list, description="Labels grouping series into per-device frames."
    )
    step_s: int = Field(60, ge=1, description="Resolution the series are read at.")
    fit_every_s: float = Field(3600.0, gt=0)
    fit_window_s: float = Field(7 * 86400.0, gt=0, description="History each fit reads.")
    infer_every_s: float = Field(60.0, gt=0)
    model: str = Field(
        "auto",
        description="Univariate model: `auto` picks robust or seasonal per series by validation "
        "(and, with `group_by`, the multivariate device model for every group of two or more "
        "series); `robust`, `seasonal`, `envelope` (the NAB-tuned detector, one update per point "
        "per series), `multivariate` (device scores only; needs `group_by`), or a model "
        "registered under the entry-point group `sentio.models`.",
    )
    threshold: ThresholdConfig | None = Field(None, description="Predict crossing this limit.")
    forecast_window_s: float = Field(6 * 3600.0, gt=0, description="History the trend uses.")
    risk_high_s: float = Field(4 * 3600.0, gt=0, description="Crossing sooner: high risk.")
    risk_medium_s: float = Field(24 * 3600.0, gt=0, description="Crossing sooner: medium risk.")
    settle_s: float = Field(
        6 * 3600.0,
        ge=0,
        description="A device alarming this long whose recent rows agree with themselves has "
        "changed its operating point: its model learns them as the new normal (logged once); "
        "0 never does.",
    )


class AIConfig(Strict):
    """The AI engine: where it reads and keeps state, and what it scores."""

    state_dir: UserPath = Field(
        Path("~/.local/share/sentio/ai"),
        description="Model state, restored on start.",
        validate_default=True,
    )
    query_url: str | None = Field(
        None, description="VictoriaMetrics' Prometheus API base URL; from `stack` when unset."
    )
    max_points_per_series: int = Field(10_000, ge=10)
    max_series_per_query: int = Field(10_000, ge=1)
    max_query_bytes: int = Field(
        14_000, ge=1000, description="Longest query a page is read with (-search.maxQueryLen)."
    )
    compress_reads: bool = Field(
        False,
        description="Ask VictoriaMetrics to gzip what it returns: about 3 times fewer bytes on the "
        "network for more CPU on both ends (a link slower than about 1 Gbit/s gains).",
    )
    queries: list[AIQueryConfig] = Field(default_factory=list)


class ReportConfig(Strict):
    """When a reading is sent: every poll, or on change with a heartbeat."""

    mode: Literal["every_poll", "on_change"] = "every_poll"
    # PromQL looks back 5 minutes for an instant query's last sample: resend well inside that
    heartbeat_s: float = Field(
        240.0, gt=0, description="On change: resend unchanged this often (inside 300 s)."
    )


class ConnectorInstanceConfig(Strict):
    """One configured connector: its plugin, schedule and the plugin's own settings."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", description="Instance name, a label.")
    type: str = Field(description="Entry-point name in the group `sentio.connectors`.")
    poll_interval_s: float = Field(10.0, gt=0, description="For polling connectors.")
    report: ReportConfig = ReportConfig()
    max_devices: int | None = Field(
        None,
        ge=1,
        description="Devices this entry may create; a new one past it is refused (counted, one "
        "WARN). Default: 1000 where names come from what is published (mqtt, zigbee2mqtt), "
        "no cap for the others.",
    )
    max_metrics_per_device: int | None = Field(
        None,
        ge=1,
        description="Metric names per device; a new one past it is refused (counted, one WARN). "
        "Default: 500 where names come from what is published (mqtt, zigbee2mqtt), no cap for "
        "the others.",
    )
    config: dict[str, Any] = Field(
        default_factory=dict, description="Validated by the connector's own model at start."
    )


class ShardConfig(Strict):
    """A collector's share of the devices: member `member` of `count` members."""

    count: int = Field(ge=1, description="How many collectors share the devices.")
    member: int | None = Field(
        None,
        ge=0,
        description="This collector's number, 0 to count - 1; when unset, from `--shard`, "
        "`SENTIO_SHARD_MEMBER` or the ordinal ending the pod's name (a StatefulSet's).",
    )
    replication: int = Field(
        1, ge=1, description="How many members read each device (failover; needs dedup)."
    )

    @model_validator(mode="after")
    def _fits(self) -> ShardConfig:
        if self.member is not None and self.member >= self.count:
            raise ValueError(f"member {self.member} is not below count {self.count}")
        if self.replication > self.count:
            raise ValueError(f"replication {self.replication} exceeds count {self.count}")
        return self


class CollectorConfig(Strict):
    """How the collector batches, retries and bounds what it sends."""

    flush_interval_s: float = Field(1.0, gt=0)
    max_batch: int = Field(5000, ge=1, description="Readings per OTLP request.")
    queue_limit: int = Field(
        200_000,
        ge=1,
        description="Readings held in memory for export; past half of it the polls wait until "
        "a quarter remains; beyond it the oldest requests are dropped whole (while the spool "
        "is unwritable, or when polls already running at half add more than the other half).",
    )
    backoff_initial_s: float = Field(1.0, gt=0)
    backoff_max_s: float = Field(60.0, gt=0)
    call_timeout_s: float | None = Field(
        None,
        gt=0,
        description="Deadline of one call into a connector (connect, a poll, close); past it "
        "the call counts as failed. Default: twice the poll interval, at least 15 s.",
    )
    close_timeout_s: float = Field(
        5.0,
        gt=0,
        description="What each connector's close gets before it is abandoned.",
    )
    spool_dir: UserPath | None = Field(
        None, description="Where undelivered requests wait; `<stack.data_dir>/spool` when unset."
    )
    spool_max_bytes: int = Field(256 << 20, ge=1 << 16, description="Oldest dropped past it.")
    spool_fsync: bool = Field(True, description="fsync each spooled request (crash-safe).")
    shard: ShardConfig | None = Field(
        None, description="Read only this member's share of the devices (sharded collectors)."
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = Field(
        "auto",
        description="The event loop `sentio run` polls on: `auto` takes uvloop where it is "
        "installed (not on Windows), else Python's own.",
    )


class SlackConfig(Strict):
    """Slack incoming webhook: the URL is a secret, read from a file or the environment."""

    webhook_url_file: UserPath | None = Field(
        None, description="File holding the incoming-webhook URL (never the URL itself here)."
    )
    webhook_url_env: str = Field(
        "SENTIO_SLACK_WEBHOOK_URL", description="Environment variable read when no file is set."
    )
    channel: str | None = Field(None, description="Channel override, e.g. `#plant-alerts`.")


class WebhookConfig(Strict):
    """A generic webhook receiver (Alertmanager's JSON), routed alongside Slack."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    url_file: UserPath | None = Field(None, description="File holding the URL (if secret).")
    url: str | None = Field(None, description="The URL, when it is not a secret.")


class AlertingConfig(Strict):
    """Alert rules (vmalert) and notifications (Alertmanager) that `sentio provision` writes."""

    anomaly_for: GoDuration = Field(
        "15m",
        description="Anomaly score above 1 this long fires (chosen on TEP's training files).",
    )
    anomaly_hold: GoDuration = Field(
        "5m",
        description="A dip below 1 shorter than this neither restarts the wait nor resolves "
        "(the rule reads max_over_time of the score over it); 0s reads the score alone.",
    )
    critical_score: float = Field(2.0, gt=1, description="Score from which severity is critical.")
    prediction_warning_s: float = Field(86400.0, gt=0, description="Predicted fault within it.")
    prediction_critical_s: float = Field(14400.0, gt=0, description="Critical within it.")
    device_down_for: GoDuration = Field("1m")
    error_rate_per_s: float = Field(0.1, gt=0, description="Connector errors per second.")
    spool_backlog_for: GoDuration = Field("5m", description="Spool not empty this long fires.")
    late_polls_fraction: float = Field(
        0.1, gt=0, le=1,
        description="Share of poll ticks missed over 10 minutes (late polls: the collector or "
        "its export is behind) from which SentioPollsLate fires.",
    )  # fmt: skip
    ai_stalled_after: GoDuration = Field("10m", description="No AI cycle this long fires.")
    collector_down_after: GoDuration = Field(
        "2m", description="A collector that exported nothing this long fires SentioCollectorDown."
    )
    ai_down_after: GoDuration = Field(
        "2m", description="An AI engine that exported nothing this long fires SentioAIDown."
    )
    down_lookback: GoDuration = Field(
        "24h",
        description="How far back a collector or AI engine counts as known: one silent for "
        "longer is forgotten and its alert resolves.",
    )
    recording_interval: GoDuration = Field("1h", description="Hourly aggregates' interval.")
    group_by: list[str] = Field(
        default_factory=lambda: ["alertname", "device", "service_instance_id"],
        description="One message per alert and device, or per process for a process's alerts.",
    )
    group_wait: GoDuration = Field("30s")
    group_interval: GoDuration = Field("5m")
    repeat_interval: GoDuration = Field("4h", description="No duplicate message within it.")
    send_resolved: bool = True
    dashboard_url: str | None = Field(
        None,
        description="Base URL of the dashboards linked from alerts: a Grafana URL gets "
        "`/d/<uid>?var-device=…` links; unset, VictoriaMetrics' UI.",
    )
    slack: SlackConfig = SlackConfig()
    webhooks: list[WebhookConfig] = Field(default_factory=list)


class GrafanaConfig(Strict):
    """A Grafana the user runs, which `sentio provision grafana` provisions."""

    url: str | None = Field(None, description="Grafana's base URL, e.g. http://127.0.0.1:3000.")
    token_file: UserPath | None = Field(None, description="File holding a service-account token.")
    token_env: str = Field("GRAFANA_TOKEN", description="Environment variable with the token.")
    folder: str = Field("Sentio", description="Folder the dashboards go into.")
    victoriametrics_url: str | None = Field(None, description="As Grafana reaches it.")
    victorialogs_url: str | None = Field(None, description="As Grafana reaches it.")
    jaeger_url: str | None = Field(None, description="As Grafana reaches it.")
    alertmanager_url: str | None = Field(None, description="As Grafana reaches it.")
    loki_url: str | None = Field(None, description="Sentio's Loki API, as Grafana reaches it.")

    def datasource_urls(self, stack: StackConfig) -> dict[str, str]:
        """Return the URL of each backend as Grafana reaches it (the stack's by default)."""
        return {
            "victoriametrics": self.victoriametrics_url or stack.url("victoriametrics"),
            "victorialogs": self.victorialogs_url or stack.url("victorialogs"),
            "jaeger": self.jaeger_url or stack.url("jaeger"),
            "alertmanager": self.alertmanager_url or stack.url("alertmanager"),
            "loki-api": self.loki_url or stack.url("loki-api"),
        }


class SentioConfig(Strict):
    """The whole of `sentio.yaml`."""

    service: ServiceConfig = ServiceConfig()
    stack: StackConfig = StackConfig()
    telemetry: TelemetryConfig = TelemetryConfig()
    ai: AIConfig = AIConfig()
    collector: CollectorConfig = CollectorConfig()
    alerting: AlertingConfig = AlertingConfig()
    grafana: GrafanaConfig = GrafanaConfig()
    connectors: list[ConnectorInstanceConfig] = Field(default_factory=list)

    def query_url(self) -> str:
        """Return the base URL of VictoriaMetrics' Prometheus query API."""
        return self.ai.query_url or self.stack.url("victoriametrics")

    def endpoint(self, signal: str) -> str:
        """Return the OTLP/HTTP URL for ``signal`` (metrics, logs or traces)."""
        exporter: ExporterConfig = getattr(self.telemetry, signal)
        if exporter.endpoint:
            return exporter.endpoint
        stack = self.stack
        return {
            "metrics": f"{stack.url('victoriametrics')}/opentelemetry/v1/metrics",
            "logs": f"{stack.url('victorialogs')}/insert/opentelemetry/v1/logs",
            "traces": f"http://{stack.host}:{stack.jaeger.otlp_http_port}/v1/traces",
        }[signal]

    def headers(self, signal: str) -> dict[str, str]:
        """Return the HTTP headers of the OTLP exporter of ``signal``.

        Logs sent to the native VictoriaLogs name their stream fields, unless the config names
        them itself; without it every new `service.instance.id` would start a new stream.
        """
        exporter: ExporterConfig = getattr(self.telemetry, signal)
        headers = dict(exporter.headers)
        if signal == "logs" and not exporter.endpoint and self.stack.victorialogs.stream_fields:
            headers.setdefault("VL-Stream-Fields", ",".join(self.stack.victorialogs.stream_fields))
        return headers

    def instance_id(self) -> str:
        """Return `service.instance.id`, defaulting to the host name."""
        return self.service.instance_id or socket.gethostname()


@dataclass(frozen=True)
class ConfigIssue:
    """One problem found in a config file."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.path or '<root>'}: {self.message}"
        return text.replace("\r", "\\r").replace("\n", "\\n")  # one problem, one line


class ConfigFileError(ConfigError):
    """Raise when a config file has one or more problems; holds them all."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_$-][A-Za-z0-9_${}:/-]*")


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN_KEY.fullmatch(part):
            out += f"[{json.dumps(part, ensure_ascii=False)}]"  # a key with dots, spaces...
        else:
            out += f".{part}" if out else part
    return out


def _walk(root: yaml.Node) -> Iterator[tuple[Loc, yaml.Node]]:
    """Yield each node of the graph with its key path; a node reached again (an alias) once."""
    seen: set[int] = set()
    todo: list[tuple[Loc, yaml.Node]] = [((), root)]
    while todo:
        loc, node = todo.pop()
        yield loc, node
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            todo += [((*loc, str(key.value)), value) for key, value in reversed(node.value)]
        elif isinstance(node, yaml.SequenceNode):
            todo += [((*loc, index), item) for index, item in reversed(list(enumerate(node.value)))]


def _line_at(text: str, index: int) -> int:
    """Return the line an editor shows for a character (YAML also breaks lines at U+2028)."""
    return text.count("\n", 0, index) + 1


class _Lines:
    """The line of each key of a YAML text, found only when a message needs one."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: dict[Loc, int] | None = None

    def of(self, loc: Loc) -> int | None:
        """Return the line of ``loc``, or of the nearest key above it that has one."""
        if self._lines is None:
            root = yaml.compose(self.text, Loader=LOADER)
            found = _walk(root) if root else iter(())
            self._lines = {}
            for key, node in found:
                self._lines.setdefault(key, _line_at(self.text, node.start_mark.index))
        for end in range(len(loc), -1, -1):
            if loc[:end] in self._lines:
                return self._lines[loc[:end]]
        return None


def substitute(text: str, loc: Loc, file: str, line: int | None) -> str:
    """Replace `${VAR}`, `${VAR:-default}` and `${file:/path}` in one scalar."""

    def one(match: re.Match[str]) -> str:
        expr = match["expr"]
        if expr.startswith("file:"):
            path = Path(expr[5:]).expanduser()
            try:
                return path.read_text(encoding="utf-8").strip()
            except (OSError, ValueError) as exc:  # ValueError: not UTF-8, a NUL in the path
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ConfigFileError(
                    [ConfigIssue(file, line, _dotted(loc), f"cannot read {path}: {reason}")]
                ) from exc
        name, sep, default = expr.partition(":-")
        if name in os.environ:
            return os.environ[name]
        if sep:
            return default
        raise ConfigFileError(
            [ConfigIssue(file, line, _dotted(loc), f"environment variable {name} is not set")]
        )

    return SUBST.sub(one, text)


class _Recursive(Exception):
    """Raise when an alias refers to a collection that contains it."""

    def __init__(self, loc: Loc) -> None:
        self.loc = loc


def _substituted(
    data: Any,
    loc: Loc,
    lines: _Lines,
    file: str,
    done: dict[int, Any] | None = None,
    path: set[int] | None = None,
) -> tuple[Any, list[ConfigIssue]]:
    """Return ``data`` with every `${...}` replaced, and the problems found.

    A container with nothing to replace is returned as it is, not copied: devices that share one
    field list through a YAML alias keep sharing it. A container reached again through an alias
    is substituted once (``done``), so a few lines of nested aliases cannot take exponential
    time; one inside itself (``path``) raises _Recursive.
    """
    issues: list[ConfigIssue] = []
    done = {} if done is None else done
    path = set() if path is None else path
    if isinstance(data, dict | list):
        if id(data) in done:
            return done[id(data)], issues
        if id(data) in path:
            raise _Recursive(loc)
        path.add(id(data))
        if isinstance(data, dict):
            out: dict[Any, Any] = {}
            for key, value in data.items():
                out[key], sub = _substituted(value, (*loc, str(key)), lines, file, done, path)
                issues += sub
            same = all(out[key] is value for key, value in data.items())
            result: Any = data if same else out
        else:
            items = []
            for index, value in enumerate(data):
                item, sub = _substituted(value, (*loc, index), lines, file, done, path)
                items.append(item)
                issues += sub
            result = data if all(a is b for a, b in zip(items, data, strict=True)) else items
        path.discard(id(data))
        done[id(data)] = result
        return result, issues
    if isinstance(data, str) and "${" in data:
        try:
            return substitute(data, loc, file, lines.of(loc)), issues
        except ConfigFileError as exc:
            return data, exc.issues
    return data, issues


def _yaml_issue(exc: yaml.YAMLError, text: str, file: str) -> ConfigIssue:
    """Return a YAML error as one issue on its line: what was wrong, and where in the line."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if isinstance(exc, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        code = exc.character if isinstance(exc.character, int) else ord(exc.character or "\0")
        reason = f"character U+{code:04X} is not allowed in YAML: {exc.reason}"
        return ConfigIssue(file, line, "", f"invalid YAML: {reason} (column {column})")
    if mark is None:
        return ConfigIssue(file, 1, "", f"invalid YAML: {exc}")
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    reason = ": ".join(str(p) for p in parts if p) or str(exc)
    return ConfigIssue(
        file, _line_at(text, mark.index), "", f"invalid YAML: {reason} (column {mark.column + 1})"
    )


def parse(text: str, file: str = "<string>") -> SentioConfig:
    """Parse, substitute and validate config text; raise ConfigFileError with every problem."""
    bad = next((i for i, c in enumerate(text) if "\ud800" <= c <= "\udfff"), None)
    if bad is not None:  # only a str built in Python has these; a file decoded as UTF-8 cannot
        line = text.count("\n", 0, bad) + 1
        raise ConfigFileError([ConfigIssue(file, line, "", "a lone surrogate is not text")])
    try:
        data = load_yaml(text)
    except yaml.YAMLError as exc:
        raise ConfigFileError([_yaml_issue(exc, text, file)]) from exc
    lines = _Lines(text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigFileError([ConfigIssue(file, 1, "", "the top level must be a mapping")])
    try:
        data, issues = _substituted(data, (), lines, file)
    except _Recursive as exc:
        reason = "an alias refers to a collection that contains it; YAML configs are trees"
        raise ConfigFileError(
            [ConfigIssue(file, lines.of(exc.loc), _dotted(exc.loc), reason)]
        ) from None
    try:
        config = SentioConfig.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            issues.append(ConfigIssue(file, lines.of(loc), _dotted(loc), err["msg"]))
    if issues:
        raise ConfigFileError(issues)
    return config


def load(path: Path | None) -> SentioConfig:
    """Load the config at ``path``, or the defaults when ``path`` is None."""
    if path is None:
        return SentioConfig()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigFileError(
            [ConfigIssue(str(path), None, "", f"cannot read: {exc.strerror}")]
        ) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        reason = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
        raise ConfigFileError([ConfigIssue(str(path), line, "", reason)]) from None
    return parse(text, str(path))


def json_schema() -> dict[str, Any]:
    """Return the JSON Schema of `sentio.yaml`."""
    return SentioConfig.model_json_schema()
