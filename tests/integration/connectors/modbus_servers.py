"""In-process pymodbus RTU servers: over TCP on a loopback port, and on a pseudo-terminal bus."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import tty
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial

from pymodbus.constants import ExcCodes
from pymodbus.framer import FramerType
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

REGISTERS = 10
BITS = 16


def holding(unit: int) -> list[int]:
    """Return the holding registers 0..9 a unit serves."""
    return [unit * 100 + i for i in range(REGISTERS)]


def inputs(unit: int) -> list[int]:
    """Return the input registers 0..9 a unit serves."""
    return [unit * 1000 + i for i in range(REGISTERS)]


def coils(unit: int) -> list[bool]:
    """Return the coils 0..15 a unit serves: the bits of its unit id."""
    return [bool(unit >> i & 1) for i in range(BITS)]


@dataclass
class SimBus:
    """The units on a simulated bus: who answers, and when each request arrived."""

    units: tuple[int, ...]
    silent: set[int] = field(default_factory=set)
    requests: list[tuple[float, int]] = field(default_factory=list)

    def sim_devices(self) -> list[SimDevice]:
        """Return one SimDevice per unit, recording each request it receives."""
        return [
            SimDevice(
                id=unit,
                simdata=(
                    [SimData(0, values=coils(unit), datatype=DataType.BITS)],
                    [SimData(0, values=coils(unit), datatype=DataType.BITS)],
                    [SimData(0, values=holding(unit), datatype=DataType.REGISTERS)],
                    [SimData(0, values=inputs(unit), datatype=DataType.REGISTERS)],
                ),
                action=partial(self._record, unit),
            )
            for unit in self.units
        ]

    def trace(self, sending: bool, packet: bytes) -> bytes:
        """Drop the answers of silent units (an RTU frame starts with its unit id)."""
        if sending and packet and packet[0] in self.silent:
            return b""
        return packet

    async def _record(
        self,
        unit: int,
        function_code: int,
        start_address: int,
        address: int,
        count: int,
        registers: list[int],
        set_values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.requests.append((time.monotonic(), unit))
        return None


async def _stop(server: ModbusTcpServer | ModbusSerialServer) -> None:
    listener = server.transport
    await server.shutdown()  # type: ignore[no-untyped-call]
    if isinstance(listener, asyncio.Server):
        await listener.wait_closed()


class RtuTcpServer:
    """A Modbus server speaking RTU frames over TCP, as a transparent serial gateway does."""

    def __init__(self, bus: SimBus) -> None:
        self.bus = bus
        self.port = 0
        self._server: ModbusTcpServer | None = None

    @property
    def connections(self) -> int:
        """Return how many clients are connected."""
        return 0 if self._server is None else len(self._server.active_connections)

    async def start(self) -> None:
        """Listen on a free loopback port, or on the one bound before a stop."""
        server = ModbusTcpServer(
            self.bus.sim_devices(),
            framer=FramerType.RTU,
            address=("127.0.0.1", self.port),
            trace_packet=self.bus.trace,
        )
        await server.serve_forever(background=True)
        self._server = server
        sockets = getattr(server.transport, "sockets", None)
        assert sockets
        self.port = int(sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and drop the clients; safe to call twice."""
        server, self._server = self._server, None
        if server is not None:
            await _stop(server)


@contextlib.asynccontextmanager
async def rtu_tcp_server(bus: SimBus) -> AsyncIterator[RtuTcpServer]:
    """Run an RTU-over-TCP server for ``bus`` while the context lasts."""
    server = RtuTcpServer(bus)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


class PtyLink:
    """Two pseudo-terminals joined back to back: what is written to one end is read at the other.

    pymodbus opens a serial port by path, so the server and the clients each get a terminal of
    their own, and a relay copies bytes between the two master sides, as a null-modem cable.
    """

    def __init__(self) -> None:
        self._fds: list[int] = []
        self._masters: list[int] = []
        self.paths: list[str] = []

    def open(self) -> None:
        """Create the terminals and start relaying in the running event loop."""
        loop = asyncio.get_running_loop()
        for _ in range(2):
            master, slave = os.openpty()
            self._fds += [master, slave]
            tty.setraw(slave)
            os.set_blocking(master, False)
            self._masters.append(master)
            self.paths.append(os.ttyname(slave))
        a, b = self._masters
        loop.add_reader(a, self._relay, a, b)
        loop.add_reader(b, self._relay, b, a)

    def close(self) -> None:
        """Stop relaying and close every descriptor; safe to call twice."""
        loop = asyncio.get_running_loop()
        for master in self._masters:
            loop.remove_reader(master)
        for fd in self._fds:
            os.close(fd)
        self._fds, self._masters = [], []

    @staticmethod
    def _relay(source: int, target: int) -> None:
        with contextlib.suppress(BlockingIOError):
            os.write(target, os.read(source, 4096))


@contextlib.asynccontextmanager
async def serial_server(bus: SimBus, *, baudrate: int = 19200) -> AsyncIterator[str]:
    """Serve ``bus`` as RTU on one end of a pseudo-terminal link; yield the other end's path.

    The line is 8N1: pseudo-terminals here refuse a parity setting.
    """
    link = PtyLink()
    link.open()
    server = ModbusSerialServer(
        bus.sim_devices(),
        port=link.paths[0],
        baudrate=baudrate,
        parity="N",
        reconnect_delay=0,
        trace_packet=bus.trace,
    )
    try:
        await server.serve_forever(background=True)
        yield link.paths[1]
    finally:
        await _stop(server)
        link.close()
