"""Build the OTel resource and the OTLP/HTTP exporters of every signal from config."""

from __future__ import annotations

import logging
import socket
from dataclasses import dataclass
from typing import Any

import requests
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from sentio import __version__
from sentio.config import ExporterConfig, SentioConfig


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


@dataclass
class Telemetry:
    """The three providers of one process, flushed and shut down together."""

    resource: Resource
    meter_provider: MeterProvider
    tracer_provider: TracerProvider
    logger_provider: LoggerProvider

    def logging_handler(self, level: int = logging.INFO) -> LoggingHandler:
        """Return a stdlib logging handler that exports records as OTLP logs."""
        return LoggingHandler(level=level, logger_provider=self.logger_provider)

    def flush(self, timeout_s: float = 10.0) -> bool:
        """Export everything buffered now; return whether every signal flushed in time."""
        millis = int(timeout_s * 1000)
        ok = self.tracer_provider.force_flush(millis)
        ok = self.logger_provider.force_flush(millis) and ok
        return self.meter_provider.force_flush(millis) and ok

    def shutdown(self) -> None:
        """Flush and stop every provider."""
        self.flush()
        self.tracer_provider.shutdown()
        self.logger_provider.shutdown()
        self.meter_provider.shutdown()


def setup(config: SentioConfig, **resource_attributes: str) -> Telemetry:
    """Create providers with OTLP/HTTP exporters to the configured backends."""
    resource = build_resource(config, **resource_attributes)
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(**_exporter_kwargs(config, "metrics")),
        export_interval_millis=config.telemetry.export_interval_s * 1000,
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(OTLPSpanExporter(**_exporter_kwargs(config, "traces")))
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        BatchLogRecordProcessor(OTLPLogExporter(**_exporter_kwargs(config, "logs")))
    )
    return Telemetry(resource, meter_provider, tracer_provider, logger_provider)
