"""Sentio's exception tree; library errors are mapped at the boundary with ``raise ... from``.

SentioError
├── ConfigError              a config file is missing, unreadable or invalid
├── StackError               a backend cannot be installed, started or reached
│   ├── BackendBuildError    building a backend from the Go module proxy failed
│   └── BackendStartError    a backend did not become healthy in time
└── TelemetryError           telemetry cannot be set up or exported
"""

from __future__ import annotations


class SentioError(Exception):
    """Base of every error Sentio raises on purpose."""


class ConfigError(SentioError):
    """Raise when a configuration is missing, unreadable or invalid."""


class StackError(SentioError):
    """Raise when a backend cannot be installed, started or reached."""


class BackendBuildError(StackError):
    """Raise when building a backend from the Go module proxy fails."""


class BackendStartError(StackError):
    """Raise when a backend does not become healthy before its deadline."""


class TelemetryError(SentioError):
    """Raise when telemetry cannot be set up or exported."""
