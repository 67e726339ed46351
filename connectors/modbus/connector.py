"""The built-in Modbus connector: polls every configured device over one Modbus TCP connection.

Errors raised here extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── ModbusError                a Modbus request failed
        ├── ModbusConnectionError  the connection could not be opened or was lost
        ├── ModbusTimeoutError     the device did not answer in time
        └── ModbusResponseError    the device answered with a Modbus exception response

``read`` never raises them for a device: each becomes an ERROR ``Event`` naming the device.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU
from sentio.connectors.contract import Connector, Event, Reading, Sample, Severity, now_ns

from sentio.errors import SentioError

from .config import BIT_TABLES, DeviceConfig, ModbusConfig
from .decode import decode_field
from .plan import ReadRequest, plan_requests


class ModbusError(SentioError):
    """Raise when a Modbus request fails."""

    kind = "error"


class ModbusConnectionError(ModbusError):
    """Raise when the Modbus connection cannot be opened or is lost."""

    kind = "connection"


class ModbusTimeoutError(ModbusError):
    """Raise when a device does not answer in time."""

    kind = "timeout"


class ModbusResponseError(ModbusError):
    """Raise when a device answers with a Modbus exception response."""

    kind = "exception_response"

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _exception_name(code: int) -> str:
    try:
        return ExcCodes(code).name
    except ValueError:
        return "UNKNOWN"


class ModbusConnector(Connector[ModbusConfig]):
    """Read coils, discrete inputs, holding and input registers from Modbus TCP devices."""

    config_model = ModbusConfig

    def __init__(self, config: ModbusConfig) -> None:
        super().__init__(config)
        self._client: AsyncModbusTcpClient | None = None
        self._plans: dict[str, list[ReadRequest]] = {
            d.name: plan_requests(
                d.fields,
                max_gap=d.max_gap,
                max_registers=d.max_registers,
                one_request_per_field=d.one_request_per_field,
            )
            for d in config.devices
        }
        self._devices = {d.name: d for d in config.devices}
        self._failing: set[str] = set()

    @property
    def connected(self) -> bool:
        """Return whether the TCP connection is open."""
        return self._client is not None and self._client.connected

    def plan(self, device: str) -> list[ReadRequest]:
        """Return the read requests one poll of ``device`` makes."""
        return self._plans[device]

    async def connect(self) -> None:
        """Open the TCP connection; raise ModbusConnectionError if it cannot be opened."""
        conn = self.config.connection
        if self._client is None:
            self._client = AsyncModbusTcpClient(
                conn.host,
                port=conn.port,
                timeout=conn.timeout_s,
                retries=conn.retries,
                reconnect_delay=0,
                name=f"sentio-modbus-{conn.host}:{conn.port}",
            )
        if self._client.connected:
            return
        try:
            ok = await self._client.connect()
        except (ModbusException, OSError) as exc:
            raise ModbusConnectionError(
                f"cannot connect to {conn.host}:{conn.port}: {exc}"
            ) from exc
        if not ok:
            raise ModbusConnectionError(f"cannot connect to {conn.host}:{conn.port}")

    async def read(self) -> AsyncIterator[Sample]:
        """Poll every device once, yielding its readings, or an ERROR event when it fails."""
        for device in self.config.devices:
            async for sample in self.poll(device.name):
                yield sample

    async def poll(self, name: str) -> AsyncIterator[Sample]:
        """Poll one device once, yielding its readings, or an ERROR event when it fails."""
        device = self._devices[name]
        attributes = {"unit_id": device.unit_id}
        failed = False
        try:
            for index, request in enumerate(self._plans[name]):
                if index and device.pause_between_requests_s:
                    await asyncio.sleep(device.pause_between_requests_s)
                try:
                    await self.connect()
                    words, bits = await self._execute(device, request)
                except ModbusResponseError as exc:
                    failed = True
                    yield self._error_event(device, request, exc)
                    continue
                except ModbusError as exc:
                    failed = True
                    yield self._error_event(device, request, exc)
                    break
                timestamp = now_ns()
                for field in request.fields:
                    offset = field.address - request.address
                    yield Reading(
                        device=device.name,
                        metric=field.name,
                        value=decode_field(
                            field,
                            words[offset : offset + field.width],
                            bits[offset : offset + field.width],
                        ),
                        unit=field.unit,
                        timestamp_ns=timestamp,
                        attributes=attributes,
                    )
        finally:
            if device.close_after_poll:
                self._close_client()
        if failed:
            self._failing.add(name)
        elif name in self._failing:
            self._failing.discard(name)
            yield Event(
                device=device.name,
                body=f"{device.name}: recovered (unit {device.unit_id})",
                severity=Severity.INFO,
                attributes=attributes,
            )

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        self._close_client()

    def _close_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _execute(
        self, device: DeviceConfig, request: ReadRequest
    ) -> tuple[Sequence[int], Sequence[bool]]:
        """Run one read request, mapping pymodbus' errors and exception responses to ours."""
        client = self._client
        if client is None:
            raise ModbusConnectionError("not connected")
        read = {
            "coil": client.read_coils,
            "discrete_input": client.read_discrete_inputs,
            "holding": client.read_holding_registers,
            "input": client.read_input_registers,
        }[request.table]
        try:
            response: ModbusPDU = await read(
                request.address, count=request.count, device_id=device.unit_id
            )
        except ModbusIOException as exc:
            raise ModbusTimeoutError(f"no response within {self._timeout_text()}") from exc
        except ConnectionException as exc:
            raise ModbusConnectionError(f"connection failed: {exc}") from exc
        except (ModbusException, OSError) as exc:
            raise ModbusConnectionError(f"request failed: {exc}") from exc
        if response.isError():
            code = response.exception_code
            raise ModbusResponseError(f"exception response {code} ({_exception_name(code)})", code)
        if request.table in BIT_TABLES:
            bits = list(response.bits)
            if len(bits) < request.count:
                raise ModbusResponseError(f"short response: {len(bits)} bits", 0)
            return [], bits
        words = list(response.registers)
        if len(words) < request.count:
            raise ModbusResponseError(f"short response: {len(words)} registers", 0)
        return words, []

    def _timeout_text(self) -> str:
        conn = self.config.connection
        return f"{conn.timeout_s:g} s x {conn.retries + 1} attempts"

    def _error_event(self, device: DeviceConfig, request: ReadRequest, exc: ModbusError) -> Event:
        fields = ", ".join(f.name for f in request.fields)
        attributes: dict[str, str | int] = {
            "unit_id": device.unit_id,
            "error": exc.kind,
            "table": request.table,
            "address": request.address,
            "count": request.count,
        }
        if isinstance(exc, ModbusResponseError):
            attributes["exception_code"] = exc.code
        return Event(
            device=device.name,
            body=(
                f"{device.name}: reading {request.table} {request.address}"
                f"..{request.end - 1} ({fields}) from unit {device.unit_id} failed: {exc}"
            ),
            severity=Severity.ERROR,
            attributes=attributes,
        )
