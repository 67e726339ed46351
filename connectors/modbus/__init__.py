"""The built-in Modbus connector (entry point ``modbus`` in ``sentio.connectors``)."""

from __future__ import annotations

from .config import (
    DeviceConfig,
    FieldConfig,
    ModbusConfig,
    RtuOverTcpConnection,
    SerialConnection,
    TcpConnection,
)
from .connector import ModbusConnector
from .errors import (
    ModbusConnectionError,
    ModbusError,
    ModbusResponseError,
    ModbusTimeoutError,
)
from .plan import ReadRequest, plan_requests

__all__ = [
    "DeviceConfig",
    "FieldConfig",
    "ModbusConfig",
    "ModbusConnectionError",
    "ModbusConnector",
    "ModbusError",
    "ModbusResponseError",
    "ModbusTimeoutError",
    "ReadRequest",
    "RtuOverTcpConnection",
    "SerialConnection",
    "TcpConnection",
    "plan_requests",
]
