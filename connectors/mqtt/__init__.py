"""The built-in generic MQTT connector (entry point ``mqtt`` in ``sentio.connectors``)."""

from __future__ import annotations

from .config import BrokerConfig, JsonField, MqttConfig, Subscription, TlsConfig
from .connector import MqttConnector
from .paths import PathError, as_number, format_path, parse_path, resolve
from .session import (
    MqttConnectionError,
    MqttConnectorError,
    MqttSession,
    MqttSubscribeError,
)
from .topics import TopicTemplate

__all__ = [
    "BrokerConfig",
    "JsonField",
    "MqttConfig",
    "MqttConnectionError",
    "MqttConnector",
    "MqttConnectorError",
    "MqttSession",
    "MqttSubscribeError",
    "PathError",
    "Subscription",
    "TlsConfig",
    "TopicTemplate",
    "as_number",
    "format_path",
    "parse_path",
    "resolve",
]
