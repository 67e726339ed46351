"""A fleet of small Modbus TCP devices for the fleet benchmark: many ports, many unit ids each.

Each of ``--connections`` servers listens on a port of its own and serves unit ids
1..``--units``; a device is one (port, unit id). It holds ``REGISTERS`` holding registers:
register 0 counts the reads of the device that started there (1 for the first, modulo 65536),
registers 1.. hold int16 values scaled by ``SCALE`` that move every second. The counter lets the
benchmark tell, per device, how many polls were served and which of them landed.

The servers speak Modbus TCP themselves (read holding registers, function 3; any other function
gets exception 1, a read past the registers exception 2, an unknown unit exception 11): about
50-70 us of CPU a request (0.09 cores at 1,700 requests/s, 0.19 at 2,700), where pymodbus' server
held 5,000 devices to under a fifth of their polls, so the readers, not the simulator, are what
the benchmark measures.

Run as ``python -m sentio.bench.fleet_sim --connections C --units U``: it prints the bound ports
on one line; on SIGTERM or SIGINT it prints one JSON line ``{"PORT/UNIT": reads, ...}``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import signal
import struct
import sys
import time

REGISTERS = 20
SCALE = 0.1
SEQ_MODULO = 1 << 16
MAX_UNITS = 247
READ_HOLDING = 3
ILLEGAL_FUNCTION, ILLEGAL_ADDRESS, TARGET_FAILED = 1, 2, 11
_HEADER = struct.Struct(">HHHB")  # transaction, protocol, length, unit
_READ = struct.Struct(">BHH")  # function, address, count


def values(unit: int, t: float) -> list[int]:
    """Return the value registers (1..) of ``unit`` at time ``t``: slow sines around levels."""
    words = []
    for i in range(1, REGISTERS):
        value = 20.0 + 5 * i + 3.0 * math.sin(t / 25 + unit * 0.3 + i)
        words.append(round(value / SCALE) & 0xFFFF)
    return words


class Fleet:
    """The devices of every server: their value registers and their read counters."""

    def __init__(self, units: int) -> None:
        if not 1 <= units <= MAX_UNITS:
            raise ValueError(f"unit ids run 1..{MAX_UNITS}, not {units}")
        self.units = units
        self.blocks: dict[int, list[int]] = {}
        self.reads: dict[tuple[int, int], int] = {}
        self.tick()

    def tick(self) -> None:
        """Move every unit's values to now (devices of one unit id share them)."""
        now = time.time()
        self.blocks = {u: values(u, now) for u in range(1, self.units + 1)}

    def registers(self, server: int, unit: int, address: int, count: int) -> list[int]:
        """Return what a read of ``count`` registers from ``address`` answers; count it."""
        key = (server, unit)
        if address == 0:
            self.reads[key] = self.reads.get(key, 0) + 1
        block = [self.reads.get(key, 0) % SEQ_MODULO, *self.blocks[unit]]
        return block[address : address + count]

    def answer(self, server: int, frame: bytes) -> bytes:
        """Return the response to one Modbus TCP request frame (MBAP header included)."""
        tid, _proto, _length, unit = _HEADER.unpack_from(frame)
        function = frame[7]
        if not 1 <= unit <= self.units:
            return self._exception(tid, unit, function, TARGET_FAILED)
        if function != READ_HOLDING or len(frame) < 12:
            return self._exception(tid, unit, function, ILLEGAL_FUNCTION)
        _fn, address, count = _READ.unpack_from(frame, 7)
        if count < 1 or address + count > REGISTERS:
            return self._exception(tid, unit, function, ILLEGAL_ADDRESS)
        words = self.registers(server, unit, address, count)
        body = struct.pack(f">BB{count}H", READ_HOLDING, 2 * count, *words)
        return _HEADER.pack(tid, 0, len(body) + 1, unit) + body

    @staticmethod
    def _exception(tid: int, unit: int, function: int, code: int) -> bytes:
        return _HEADER.pack(tid, 0, 3, unit) + bytes((function | 0x80, code))


class Server(asyncio.Protocol):
    """One connection to one server: split the stream into frames and answer each."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the transport to answer on."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        """Answer every whole frame received; keep a partial one for the next bytes."""
        buffer = self.buffer + data
        out = []
        while len(buffer) >= 8:
            length = (buffer[4] << 8) | buffer[5]
            end = 6 + length
            if length < 2:  # not Modbus TCP: drop the connection
                assert self.transport is not None
                self.transport.close()
                return
            if len(buffer) < end:
                break
            out.append(self.fleet.answer(self.index, buffer[:end]))
            buffer = buffer[end:]
        self.buffer = buffer
        if out and self.transport is not None:
            self.transport.write(b"".join(out))


async def serve(host: str, connections: int, units: int) -> dict[str, int]:
    """Serve ``connections`` servers of ``units`` devices until SIGTERM; return reads by device."""
    fleet = Fleet(units)
    loop = asyncio.get_running_loop()
    servers = []
    for s in range(connections):
        servers.append(await loop.create_server(lambda s=s: Server(fleet, s), host, 0))  # type: ignore[misc]
    ports = [int(server.sockets[0].getsockname()[1]) for server in servers]
    sys.stdout.write(" ".join(map(str, ports)) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        fleet.tick()
    for server in servers:
        server.close()
    return {f"{ports[s]}/{u}": n for (s, u), n in sorted(fleet.reads.items())}


def main() -> None:
    """Parse the command line, serve, and print the reads of every device at the end."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--units", type=int, default=100)
    args = parser.parse_args()
    reads = asyncio.run(serve(args.host, args.connections, args.units))
    sys.stdout.write(json.dumps(reads) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
