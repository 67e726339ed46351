"""The built-in Zigbee2MQTT connector (entry point ``zigbee2mqtt`` in ``sentio.connectors``)."""

from __future__ import annotations

from .config import Zigbee2MqttConfig
from .connector import Zigbee2MqttConnector
from .decode import DEFAULT_UNITS, Zigbee2MqttDecoder, device_metadata, flatten

__all__ = [
    "DEFAULT_UNITS",
    "Zigbee2MqttConfig",
    "Zigbee2MqttConnector",
    "Zigbee2MqttDecoder",
    "device_metadata",
    "flatten",
]
