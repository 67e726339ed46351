"""The Modbus connector's errors.

They extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── ModbusError                a Modbus request failed
        ├── ModbusConnectionError  the connection could not be opened, was lost, or its bus is
        │                          already in use with other settings
        ├── ModbusTimeoutError     the device did not answer in time
        └── ModbusResponseError    the device answered with a Modbus exception response
"""

from __future__ import annotations

from sentio.connectors.contract import (
    ConnectorConnectionError,
    ConnectorError,
    ConnectorProtocolError,
    ConnectorTimeoutError,
)

from sentio.errors import SentioError


class ModbusError(SentioError, ConnectorError):
    """Raise when a Modbus request fails."""

    kind = "error"


class ModbusConnectionError(ModbusError, ConnectorConnectionError):
    """Raise when the Modbus connection cannot be opened or is lost."""

    kind = "connection"


class ModbusTimeoutError(ModbusError, ConnectorTimeoutError):
    """Raise when a device does not answer in time."""

    kind = "timeout"


class ModbusResponseError(ModbusError, ConnectorProtocolError):
    """Raise when a device answers with a Modbus exception response."""

    kind = "exception_response"

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code
