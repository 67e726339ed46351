"""Sentio's exception tree; library errors are mapped at the boundary with ``raise ... from``.

Every error Sentio raises on purpose is a ``SentioError``; a connector's errors are also a
``ConnectorError`` of the plugin contract (``sentio.connectors.contract``, which imports nothing
from Sentio, so a plugin need not), by kind. Anything else escaping is a bug.

Exception
├── SentioError
│   ├── ConfigError                       a config file is missing, unreadable or invalid
│   │   ├── ConfigFileError               (sentio.config) every issue with file, line, key path
│   │   └── ShardError                    (sentio.shards) a malformed shard or member number
│   ├── StackError                        a backend cannot be installed, started or reached
│   │   ├── BackendBuildError             building a backend from the Go module proxy failed
│   │   └── BackendStartError             a backend did not become healthy in time
│   ├── ProvisionError                    dashboards, rules or an Alertmanager config not applied
│   │   └── GrafanaError                  a user's Grafana refused a request or did not answer
│   ├── TelemetryError                    telemetry cannot be set up or exported
│   │   └── ExportError                   (sentio.otlp) a backend refused a request; .retryable
│   ├── SpoolError                        (collectors.spool) the spool folder cannot be used
│   ├── DeployError                       (sentio.deploy) manifests cannot be generated
│   ├── MissingExtraError                 (sentio.extras) a command's optional extra is absent
│   ├── LogQLError                        a LogQL query is refused (Loki's HTTP 400)
│   │   ├── LogQLParseError               the query is not LogQL; names line and column
│   │   └── LogQLTranslationError         valid LogQL with no LogsQL translation; names it
│   ├── AiEngineError                     (ai_engine.errors) the AI engine's own tree
│   ├── BenchError, TelegrafError, ProcError, FaultsError, FuzzError, FleetError
│   │                                     (sentio.bench) a benchmark failed; FleetError's
│   │                                     SinkRejected: a body the OTLP sink answers 400
│   ├── MosquittoError, ZigbeePublishError, FaultError        (simulators) a simulator failed
│   └── the built-in connectors' errors, each also a ConnectorError:
│       ├── ModbusError                   (connectors.modbus.errors)
│       │   ├── ModbusConnectionError     ConnectorConnectionError
│       │   ├── ModbusTimeoutError        ConnectorTimeoutError
│       │   └── ModbusResponseError       ConnectorProtocolError (a Modbus exception response)
│       ├── OpcuaError                    (connectors.opcua.errors)
│       │   ├── OpcuaConnectionError      ConnectorConnectionError
│       │   │   └── OpcuaSecurityError    refused security settings or server certificate
│       │   ├── OpcuaTimeoutError         ConnectorTimeoutError
│       │   ├── OpcuaNamespaceError       ConnectorProtocolError
│       │   └── OpcuaBrowseError          ConnectorProtocolError
│       ├── HomeAssistantError            (connectors.homeassistant.api)
│       │   ├── HomeAssistantConnectionError   ConnectorConnectionError
│       │   │   └── WebSocketUnavailable  the WebSocket API is off: REST is used instead
│       │   ├── HomeAssistantAuthError    ConnectorConnectionError (token rejected)
│       │   └── HomeAssistantProtocolError     ConnectorProtocolError
│       └── MqttConnectorError            (connectors.mqtt.session), also for Zigbee2MQTT
│           ├── MqttConnectionError       ConnectorConnectionError
│           └── MqttSubscribeError        ConnectorProtocolError
└── ConnectorError                        (sentio.connectors.contract) a connector cannot read
    ├── ConnectorConnectionError          the device or broker is unreachable or dropped us
    ├── ConnectorTimeoutError             the device did not answer in time
    └── ConnectorProtocolError            the device answered with an error or garbage
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


class ProvisionError(SentioError):
    """Raise when dashboards, rules or an Alertmanager config cannot be applied."""


class GrafanaError(ProvisionError):
    """Raise when a Grafana refuses a request, rejects the token or does not answer."""


class TelemetryError(SentioError):
    """Raise when telemetry cannot be set up or exported."""


class MissingExtraError(SentioError):
    """Raise when a command needs an optional extra that is not installed."""


class LogQLError(SentioError):
    """Raise when a LogQL query is refused; the Loki API answers it with HTTP 400."""


class LogQLParseError(LogQLError):
    """Raise when a query is not valid LogQL."""


class LogQLTranslationError(LogQLError):
    """Raise when valid LogQL has no faithful LogsQL translation; ``construct`` names it."""

    def __init__(self, construct: str, reason: str) -> None:
        super().__init__(f"unsupported LogQL: {construct}: {reason}")
        self.construct = construct
