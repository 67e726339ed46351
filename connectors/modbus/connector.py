"""The built-in Modbus connector: polls devices over Modbus TCP, RTU over TCP or a serial line.

Its errors (``errors``) never leave ``read`` or ``poll`` for a device: each becomes an ERROR
``Event`` naming the device. A ``string`` field is no metric: it is logged (an INFO ``Event``)
when its value changes. Values are exported as 64-bit floats, so an ``int64``/``uint64`` beyond
2**53 (9007199254740992) loses its lowest digits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from pymodbus.client import ModbusBaseClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ConnectionException, ModbusException, ModbusIOException
from pymodbus.pdu import ModbusPDU
from sentio.connectors.contract import (
    BOOL,
    Connector,
    DeviceSchedule,
    Event,
    Metrics,
    ReadingBatch,
    Sample,
    Severity,
    now_ns,
)

from .config import BIT_TABLES, DeviceConfig, FieldConfig, ModbusConfig
from .decode import RequestDecoder
from .errors import (
    ModbusConnectionError,
    ModbusError,
    ModbusResponseError,
    ModbusTimeoutError,
)
from .plan import ReadRequest, plan_requests
from .transport import Bus, attach, detach

READ_METHODS = {
    "coil": "read_coils",
    "discrete_input": "read_discrete_inputs",
    "holding": "read_holding_registers",
    "input": "read_input_registers",
}


def _exception_name(code: int) -> str:
    try:
        return ExcCodes(code).name
    except ValueError:
        return "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Part:
    """One read request of a device, its decoder, and where its values go."""

    request: ReadRequest
    decoder: RequestDecoder
    metrics: Metrics
    numbers: tuple[int, ...] | None  # positions of the metrics' values; None: every value
    texts: tuple[tuple[int, str], ...]  # positions and names of the string fields


Layout = list[Part]


def _unit(field: FieldConfig) -> str:
    if not field.unit and field.type in {"bool", "bit"}:
        return BOOL
    return field.unit


def _part(request: ReadRequest) -> Part:
    fields = request.fields
    texts = tuple((i, f.name) for i, f in enumerate(fields) if f.type == "string")
    numbers = tuple(i for i, f in enumerate(fields) if f.type != "string")
    metrics = tuple((fields[i].name, _unit(fields[i])) for i in numbers)
    return Part(request, RequestDecoder(request.address, fields), metrics,
                numbers if texts else None, texts)  # fmt: skip


def _layout(device: DeviceConfig) -> Layout:
    """Return a device's read requests, each with its decoder and its batch layout."""
    plan = plan_requests(
        device.fields,
        max_gap=device.max_gap,
        max_registers=device.max_registers,
        one_request_per_field=device.one_request_per_field,
    )
    return [_part(r) for r in plan]


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
        self._texts: dict[tuple[str, str], str] = {}

    @property
    def connected(self) -> bool:
        """Return whether the connection is open."""
        return self._bus is not None and self._bus.connected

    def plan(self, device: str) -> list[ReadRequest]:
        """Return the read requests one poll of ``device`` makes."""
        return [part.request for part in self._layouts[device]]

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
            for part in self._layouts[device]:
                try:
                    words, bits = await self._request(bus, config, part.request)
                except ModbusResponseError as exc:
                    yield self._error_event(config, exc, part.request)
                    continue
                except ModbusError as exc:
                    yield self._error_event(config, exc, part.request)
                    break
                values = part.decoder.decode(words, bits)
                now = now_ns()
                for i, name in part.texts:
                    event = self._text(config, name, values[i], now)
                    if event is not None:
                        yield event
                if part.numbers is not None:
                    values = [values[i] for i in part.numbers]
                if values:
                    yield ReadingBatch(config.name, part.metrics, values, now, attributes)
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
                client = bus.client if bus.connected else await bus.open()
                return await self._execute(client, device, request)
            finally:
                if device.pause_between_requests_s and not _cancelling():
                    await asyncio.sleep(device.pause_between_requests_s)

    async def _execute(
        self, client: ModbusBaseClient, device: DeviceConfig, request: ReadRequest
    ) -> tuple[Sequence[int], Sequence[bool]]:
        """Run one read request, mapping pymodbus' errors and exception responses to ours."""
        read = getattr(client, READ_METHODS[request.table])
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

    def _text(self, device: DeviceConfig, field: str, value: object, now: int) -> Event | None:
        """Return an INFO event when a string field's value differs from the last one seen."""
        text = str(value)
        if self._texts.get((device.name, field)) == text:
            return None
        self._texts[device.name, field] = text
        return Event(
            device.name,
            f"{device.name}: {field} = {text}",
            Severity.INFO,
            now,
            {"unit_id": device.unit_id, "field": field, "value": text},
        )

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
