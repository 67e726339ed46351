"""Build Modbus clients, and share one client and one lock per bus.

A bus is a serial port, or the serial line behind an RTU-over-TCP gateway: only one request may
be on it at a time, so every connector instance configured on the same bus shares one client and
one lock, found in a registry keyed by the resolved port path or by gateway host:port. A plain
Modbus TCP connection is a bus of its own.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from pathlib import Path

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient, ModbusBaseClient
from pymodbus.exceptions import ModbusException, ModbusIOException
from pymodbus.framer import FramerType
from pymodbus.pdu import ModbusPDU
from pymodbus.pdu.register_message import (
    ReadHoldingRegistersResponse,
    ReadInputRegistersResponse,
)

from .config import Connection, RtuOverTcpConnection, SerialConnection
from .errors import ModbusConnectionError

_PYMODBUS_LOG = logging.getLogger("pymodbus.logging")  # the logger of pymodbus' Log
_IDENTITY_KEYS: frozenset[str] = frozenset({"host", "port"})
_BUSES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Bus]] = (
    weakref.WeakKeyDictionary()
)


def bus_key(connection: Connection) -> str | None:
    """Return the key under which connectors share ``connection``'s bus; None if not shared."""
    if isinstance(connection, SerialConnection):
        port = Path(connection.port)
        # COM3 or a pyserial URL is a name, not a path to resolve
        return f"serial:{port.resolve() if port.is_absolute() else connection.port}"
    if isinstance(connection, RtuOverTcpConnection):
        return f"rtu_over_tcp:{connection.host.lower()}:{connection.port}"
    return None


def describe(connection: Connection) -> str:
    """Return where ``connection`` goes, for messages: host:port or the serial port."""
    if isinstance(connection, SerialConnection):
        return connection.port
    return f"{connection.host}:{connection.port}"


def _unpack_registers(data: bytes) -> list[int]:
    """Return a register response's registers: its byte count, then big-endian words."""
    if not data or (count := data[0]) >= len(data):
        raise ModbusIOException(f"byte_count {data[0] if data else 0} > length of packet")
    return list(struct.unpack_from(f">{count // 2}H", data, 1))


def _summary(response: ModbusPDU) -> str:
    """Return ``response`` as pymodbus prints it when its debug log is on, else a short form.

    pymodbus formats every response it decodes for a debug line, on or off (12 µs for 100
    registers): the registers are spelled out only when the line is written.
    """
    if _PYMODBUS_LOG.isEnabledFor(logging.DEBUG):
        return ModbusPDU.__str__(response)
    return f"{type(response).__name__}(dev_id={response.dev_id}, count={len(response.registers)})"


class FastHoldingRegisters(ReadHoldingRegistersResponse):
    """A holding-register response decoded in one call, not register by register."""

    def decode(self, data: bytes) -> None:
        """Decode the registers of a response packet."""
        self.registers = _unpack_registers(data)

    __str__ = _summary


class FastInputRegisters(ReadInputRegistersResponse):
    """An input-register response decoded in one call, not register by register."""

    def decode(self, data: bytes) -> None:
        """Decode the registers of a response packet."""
        self.registers = _unpack_registers(data)

    __str__ = _summary


def build_client(connection: Connection) -> ModbusBaseClient:
    """Return an unconnected pymodbus client for ``connection``; call inside the event loop."""
    client = _client(connection)
    # pymodbus' documented hook for custom responses; these only decode and print faster
    client.register(FastHoldingRegisters)
    client.register(FastInputRegisters)
    return client


def _client(connection: Connection) -> ModbusBaseClient:
    name = f"sentio-modbus-{describe(connection)}"
    if isinstance(connection, SerialConnection):
        return AsyncModbusSerialClient(
            connection.port,
            framer=FramerType.RTU,
            baudrate=connection.baudrate,
            bytesize=connection.bytesize,
            parity=connection.parity,
            stopbits=connection.stopbits,
            timeout=connection.timeout_s,
            retries=connection.retries,
            reconnect_delay=0,
            name=name,
        )
    rtu = isinstance(connection, RtuOverTcpConnection)
    return AsyncModbusTcpClient(
        connection.host,
        port=connection.port,
        framer=FramerType.RTU if rtu else FramerType.SOCKET,
        timeout=connection.timeout_s,
        retries=connection.retries,
        reconnect_delay=0,
        name=name,
    )


class Bus:
    """One bus: its client, the lock its requests take, and who uses it.

    Hold ``lock`` around ``open``, every request, and ``close``: a request then never meets a
    connect or a close made for another device or another connector instance.
    """

    def __init__(self, key: str | None, connection: Connection) -> None:
        self.key = key
        self.connection = connection
        self.lock = asyncio.Lock()
        self.users = 0
        self.polls = 0
        self._client: ModbusBaseClient | None = None

    @property
    def connected(self) -> bool:
        """Return whether the client is connected."""
        return self._client is not None and self._client.connected

    @property
    def client(self) -> ModbusBaseClient:
        """Return the client ``open`` connected; only while ``connected``."""
        assert self._client is not None, "the bus is not open"
        return self._client

    async def open(self) -> ModbusBaseClient:
        """Return the connected client, connecting first if needed; hold ``lock``."""
        if self._client is None:
            self._client = build_client(self.connection)
        if self._client.connected:
            return self._client
        where = describe(self.connection)
        try:
            ok = await self._client.connect()
        except (ModbusException, OSError) as exc:
            raise ModbusConnectionError(f"cannot connect to {where}: {exc}") from exc
        if not ok:
            raise ModbusConnectionError(f"cannot connect to {where}")
        return self._client

    def close(self) -> None:
        """Close the client; the next ``open`` builds a new one."""
        if self._client is not None:
            self._client.close()
            self._client = None


def attach(connection: Connection) -> Bus:
    """Return the bus of ``connection`` in the running event loop, counting one more user.

    Raise ModbusConnectionError if the bus is shared and already in use with other settings.
    """
    key = bus_key(connection)
    if key is None:
        bus = Bus(None, connection)
    else:
        buses = _BUSES.setdefault(asyncio.get_running_loop(), {})
        if key not in buses:
            buses[key] = Bus(key, connection)
        bus = buses[key]
        differ = _differences(bus.connection, connection)
        if differ:
            raise ModbusConnectionError(
                f"{describe(connection)} is already in use with other settings: "
                + ", ".join(differ)
            )
    bus.users += 1
    return bus


def detach(bus: Bus) -> None:
    """Count one user less; close the bus and forget it when it was the last."""
    bus.users -= 1
    if bus.users > 0:
        return
    bus.close()
    for buses in _BUSES.values():
        if bus.key is not None and buses.get(bus.key) is bus:
            del buses[bus.key]


def _differences(a: Connection, b: Connection) -> list[str]:
    mine, theirs = a.model_dump(), b.model_dump()
    keys = (mine.keys() | theirs.keys()) - _IDENTITY_KEYS
    return sorted(k for k in keys if mine.get(k) != theirs.get(k))
