"""The built-in Modbus connector: polls devices over Modbus TCP, RTU over TCP or a serial line.

Its errors (``errors``) never leave ``read`` or ``poll`` for a device: each becomes an ERROR
``Event`` naming the device.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from pymodbus.client import ModbusBaseClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU
from sentio.connectors.contract import (
    Connector,
    DeviceSchedule,
    Event,
    Metrics,
    ReadingBatch,
    Sample,
    Severity,
    now_ns,
)

from .config import BIT_TABLES, DeviceConfig, ModbusConfig
from .decode import RequestDecoder
from .errors import (
    ModbusConnectionError,
    ModbusError,
    ModbusResponseError,
    ModbusTimeoutError,
)
from .plan import ReadRequest, plan_requests
from .transport import Bus, attach, detach


def _exception_name(code: int) -> str:
    try:
        return ExcCodes(code).name
    except ValueError:
        return "UNKNOWN"


Layout = list[tuple[ReadRequest, RequestDecoder, Metrics]]


def _layout(device: DeviceConfig) -> Layout:
    """Return a device's read requests, each with its decoder and its batch layout."""
    plan = plan_requests(
        device.fields,
        max_gap=device.max_gap,
        max_registers=device.max_registers,
        one_request_per_field=device.one_request_per_field,
    )
    return [
        (r, RequestDecoder(r.address, r.fields), tuple((f.name, f.unit) for f in r.fields))
        for r in plan
    ]


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class ModbusConnector(Connector[ModbusConfig]):
    """Read coils, discrete inputs, holding and input registers from Modbus devices.

    Devices are polled one at a time (``devices`` and ``poll``), concurrently if the runtime
    wishes: every request, connect and close takes the bus's lock, so requests never interleave
    on a serial line, and one device's reconnect or close never cuts another's request.
    """

    config_model = ModbusConfig

    def __init__(self, config: ModbusConfig) -> None:
        super().__init__(config)
        self._bus: Bus | None = None
        self._devices = {d.name: d for d in config.devices}
        self._attributes = {d.name: {"unit_id": d.unit_id} for d in config.devices}
        # Devices of one kind (the same field models, the same request limits) share one plan,
        # its decoders and its layouts, so a fleet of identical meters holds them once.
        kinds: dict[tuple[object, ...], Layout] = {}
        self._layouts: dict[str, Layout] = {}
        for d in config.devices:
            kind = (*map(id, d.fields), d.max_gap, d.max_registers, d.one_request_per_field)
            layout = kinds.get(kind)
            if layout is None:
                layout = kinds[kind] = _layout(d)
            self._layouts[d.name] = layout

    @property
    def connected(self) -> bool:
        """Return whether the connection is open."""
        return self._bus is not None and self._bus.connected

    def plan(self, device: str) -> list[ReadRequest]:
        """Return the read requests one poll of ``device`` makes."""
        return [request for request, _decoder, _metrics in self._layouts[device]]

    def devices(self) -> Sequence[DeviceSchedule]:
        """Return every device with its own poll interval (None: the instance's)."""
        return [DeviceSchedule(d.name, d.poll_interval_s) for d in self.config.devices]

    async def connect(self) -> None:
        """Open the connection unless open; raise ModbusConnectionError if it cannot be opened."""
        bus = self._attached()
        async with bus.lock:
            await bus.open()

    async def read(self) -> AsyncIterator[Sample]:
        """Poll every device once, yielding its readings, or an ERROR event when it fails."""
        for device in self.config.devices:
            async for sample in self.poll(device.name):
                yield sample

    async def poll(self, device: str) -> AsyncIterator[Sample]:
        """Poll one device once, yielding its readings, or an ERROR event when it fails."""
        config = self._devices[device]
        attributes = self._attributes[device]
        try:
            bus = self._attached()
        except ModbusError as exc:
            yield self._error_event(config, exc)
            return
        bus.polls += 1
        try:
            for request, decoder, metrics in self._layouts[device]:
                try:
                    words, bits = await self._request(bus, config, request)
                except ModbusResponseError as exc:
                    yield self._error_event(config, exc, request)
                    continue
                except ModbusError as exc:
                    yield self._error_event(config, exc, request)
                    break
                values = decoder.decode(words, bits)
                yield ReadingBatch(config.name, metrics, values, now_ns(), attributes)
        finally:
            bus.polls -= 1
            if config.close_after_poll:
                async with bus.lock:
                    if not bus.polls:
                        bus.close()

    async def close(self) -> None:
        """Release the connection (closed once no other instance shares it); safe to call twice."""
        bus, self._bus = self._bus, None
        if bus is not None:
            detach(bus)

    def _attached(self) -> Bus:
        if self._bus is None:
            self._bus = attach(self.config.connection)
        return self._bus

    async def _request(
        self, bus: Bus, device: DeviceConfig, request: ReadRequest
    ) -> tuple[Sequence[int], Sequence[bool]]:
        """Run one request holding the bus, then keep the bus quiet for the device's pause."""
        async with bus.lock:
            try:
                return await self._execute(await bus.open(), device, request)
            finally:
                if device.pause_between_requests_s and not _cancelling():
                    await asyncio.sleep(device.pause_between_requests_s)

    async def _execute(
        self, client: ModbusBaseClient, device: DeviceConfig, request: ReadRequest
    ) -> tuple[Sequence[int], Sequence[bool]]:
        """Run one read request, mapping pymodbus' errors and exception responses to ours."""
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

    def _error_event(
        self, device: DeviceConfig, exc: ModbusError, request: ReadRequest | None = None
    ) -> Event:
        attributes: dict[str, str | int] = {"unit_id": device.unit_id, "error": exc.kind}
        what = "polling"
        if request is not None:
            fields = ", ".join(f.name for f in request.fields)
            what = f"reading {request.table} {request.address}..{request.end - 1} ({fields})"
            attributes |= {
                "table": request.table,
                "address": request.address,
                "count": request.count,
            }
        if isinstance(exc, ModbusResponseError):
            attributes["exception_code"] = exc.code
        return Event(
            device=device.name,
            body=f"{device.name}: {what} from unit {device.unit_id} failed: {exc}",
            severity=Severity.ERROR,
            attributes=attributes,
        )
