"""Build the OTel resource and the OTLP/HTTP exporters of every signal from config."""

from __future__ import annotations

import logging
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import (
    Counter,
    Histogram,
    MeterProvider,
    ObservableCounter,
    ObservableGauge,
    ObservableUpDownCounter,
    UpDownCounter,
)
from opentelemetry.sdk.metrics import _Gauge as Gauge
from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricExportResult,
    MetricsData,
    PeriodicExportingMetricReader,
    ResourceMetrics,
    ScopeMetrics,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from sentio import __version__
from sentio.config import ExporterConfig, SentioConfig
from sentio.otlp_traces import SpanExporter
from sentio.redact import RedactFilter

INSTRUMENT_CLASSES = (Counter, UpDownCounter, Histogram, Gauge, ObservableCounter,
                      ObservableUpDownCounter, ObservableGauge)  # fmt: skip
MetricSource = Callable[[], Metric | None]


def build_resource(config: SentioConfig, **extra: str) -> Resource:
    """Return the resource every signal of this process carries."""
    attributes: dict[str, str] = {
        "service.name": config.service.name,
        "service.instance.id": config.instance_id(),
        "service.version": __version__,
        "host.name": config.service.host_name or socket.gethostname(),
    }
    attributes.update(extra)
    return Resource.create(attributes)


class _ConfiguredCASession(requests.Session):
    """A session whose own CA bundle wins over `REQUESTS_CA_BUNDLE` and `CURL_CA_BUNDLE`.

    requests lets those variables replace a session's `verify` path, which would silently
    ignore `tls.ca_file`.
    """

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if verify is None and isinstance(self.verify, str):
            settings["verify"] = self.verify
        return settings


def _exporter_kwargs(config: SentioConfig, signal: str) -> dict[str, Any]:
    exporter: ExporterConfig = getattr(config.telemetry, signal)
    tls = exporter.tls
    return {
        "session": _ConfiguredCASession(),
        "endpoint": config.endpoint(signal),
        "headers": config.headers(signal),
        "timeout": exporter.timeout_s,
        "certificate_file": str(tls.ca_file) if tls.ca_file else None,
        "client_certificate_file": str(tls.cert_file) if tls.cert_file else None,
        "client_key_file": str(tls.key_file) if tls.key_file else None,
    }


class MetricExporter(OTLPMetricExporter):
    """The SDK's OTLP/HTTP metric exporter, adding metrics kept outside the SDK to each export.

    A source (``sentio.histograms.Histogram.metric``) is asked at every export, on the metric
    reader's thread; its metric goes out under its scope (merged with the SDK's metrics of the
    same scope), on the export's first resource.
    """

    def __init__(self, resource: Resource, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.resource = resource
        self.sources: list[tuple[InstrumentationScope, MetricSource]] = []

    def export(
        self, metrics_data: MetricsData, timeout_millis: float | None = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        """Export ``metrics_data`` with the kept metrics added."""
        return super().export(self.with_kept(metrics_data), timeout_millis, **kwargs)

    def with_kept(self, metrics_data: MetricsData) -> MetricsData:
        """Return ``metrics_data`` with each source's metric now, under the source's scope."""
        scopes: dict[InstrumentationScope, list[Metric]] = {}
        for scope, source in self.sources:
            metric = source()
            if metric is not None:
                scopes.setdefault(scope, []).append(metric)
        if not scopes:
            return metrics_data
        resources = list(metrics_data.resource_metrics)
        if not resources:
            resources = [ResourceMetrics(self.resource, [], "")]
        first = resources[0]
        # one ScopeMetrics per scope: the SDK's encoder keeps only the last of equal scopes
        merged = [
            ScopeMetrics(s.scope, [*s.metrics, *scopes.pop(s.scope, ())], s.schema_url)
            for s in first.scope_metrics
        ]
        merged += [ScopeMetrics(scope, metrics, "") for scope, metrics in scopes.items()]
        resources[0] = ResourceMetrics(first.resource, merged, first.schema_url)
        return MetricsData(resources)


@dataclass
class Telemetry:
    """The three providers of one process, flushed and shut down together."""

    resource: Resource
    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider
    attached: list[tuple[logging.Logger, logging.Handler]] = field(default_factory=list)
    # where metrics kept outside the SDK are exported; None: they are not
    metric_exporter: MetricExporter | None = None

    def keep(self, scope: str, source: MetricSource) -> None:
        """Export ``source``'s metric, under scope ``scope``, with every export of the metrics."""
        if self.metric_exporter is not None:
            self.metric_exporter.sources.append((InstrumentationScope(scope), source))

    def logging_handler(self, level: int = logging.INFO) -> LoggingHandler:
        """Return a stdlib logging handler that exports records as OTLP logs, redacted."""
        handler = LoggingHandler(level=level, logger_provider=self.logger_provider)
        handler.addFilter(RedactFilter())
        return handler

    def attach(self, name: str) -> logging.Logger:
        """Send logger ``name``'s INFO records to the OTLP logs and its errors to stderr.

        Both handlers mask credentials (``sentio.redact``), as do the OTel exporters' own
        warnings on stderr, which name the endpoint they failed to reach.
        """
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        for handler in (self.logging_handler(), _Stderr(logging.ERROR)):
            logger.addHandler(handler)
            self.attached.append((logger, handler))
        exporters = logging.getLogger("opentelemetry")
        if not any(isinstance(h, _Stderr) for h in exporters.handlers):
            exporters.addHandler(_Stderr(logging.WARNING))
        return logger

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything buffered now; return whether every signal flushed in time."""
        millis = int(timeout_s * 1000)
        ok = self.tracer_provider.force_flush(millis)
        ok = self.logger_provider.force_flush(millis) and ok
        return self.meter_provider.force_flush(millis) and ok

    def shutdown(self) -> None:
        """Flush and stop every provider; detach the handlers ``attach`` added."""
        self.flush()
        for logger, handler in self.attached:
            logger.removeHandler(handler)
        self.attached.clear()
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


class _Stderr(logging.StreamHandler[TextIO]):
    """Write ``level`` and above, redacted, to whatever ``sys.stderr`` is when a record comes."""

    def __init__(self, level: int) -> None:
        super().__init__(sys.stderr)
        self.setLevel(level)
        self.addFilter(RedactFilter())

    def emit(self, record: logging.LogRecord) -> None:
        """Write ``record`` to the current stderr."""
        self.stream = sys.stderr
        super().emit(record)


def setup(config: SentioConfig, **resource_attributes: str) -> Telemetry:
    """Create providers with OTLP/HTTP exporters to the configured backends."""
    resource = build_resource(config, **resource_attributes)
    limit = config.telemetry.max_attribute_sets
    exporter = MetricExporter(resource, **_exporter_kwargs(config, "metrics"))
    reader = PeriodicExportingMetricReader(
        exporter,
        export_interval_millis=config.telemetry.export_interval_s * 1000,
        cardinality_limits=dict.fromkeys(INSTRUMENT_CLASSES, limit),
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(SpanExporter(**_exporter_kwargs(config, "traces")))
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(**_exporter_kwargs(config, "logs")))
    )
    return Telemetry(
        resource, meter_provider, tracer_provider, logger_provider, metric_exporter=exporter
    )
