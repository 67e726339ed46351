"""Sentio: observability-first telemetry for IoT and industrial devices."""

__version__ = "0.1.0"
