"""The built-in Modbus connector (entry point ``modbus`` in ``sentio.connectors``)."""

from __future__ import annotations

from .config import DeviceConfig, FieldConfig, ModbusConfig, TcpConnection
from .connector import (
    ModbusConnectionError,
    ModbusConnector,
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
    "TcpConnection",
    "plan_requests",
]
