"""A fleet of small Modbus TCP devices for the fleet benchmark: many ports, many unit ids each.

Each of ``--connections`` servers listens on a port of its own and serves unit ids
1..``--units``; a device is one (port, unit id). It holds ``REGISTERS`` holding registers:
register 0 counts the reads of the device that started there (1 for the first, modulo 65536),
registers 1.. hold int16 values scaled by ``SCALE`` that move every second. The counter lets the
benchmark tell, per device, how many polls were served and which of them landed.

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
import sys
import time

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import SimDevice

from sentio.bench.meter import holding_device

REGISTERS = 20
SCALE = 0.1
SEQ_MODULO = 1 << 16
MAX_UNITS = 247


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

    def device(self, server: int, unit: int) -> SimDevice:
        """Return the pymodbus device serving ``unit`` on server ``server``."""

        async def serve(
            function_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            _set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if function_code != 3:
                return ExcCodes.ILLEGAL_FUNCTION
            offset = address - start_address
            registers[offset : offset + count] = self.registers(server, unit, address, count)
            return None

        return holding_device(unit, REGISTERS, serve)


def _bound_port(server: ModbusTcpServer) -> int:
    sockets = getattr(server.transport, "sockets", None)
    if not sockets:
        raise OSError("the Modbus server has no listening socket")
    return int(sockets[0].getsockname()[1])


async def serve(host: str, connections: int, units: int) -> dict[str, int]:
    """Serve ``connections`` servers of ``units`` devices until SIGTERM; return reads by device."""
    fleet = Fleet(units)
    servers = [
        ModbusTcpServer([fleet.device(s, u) for u in range(1, units + 1)], address=(host, 0))
        for s in range(connections)
    ]
    for server in servers:
        await server.serve_forever(background=True)
    ports = [_bound_port(server) for server in servers]
    sys.stdout.write(" ".join(map(str, ports)) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        fleet.tick()
    for server in servers:
        await server.shutdown()  # type: ignore[no-untyped-call]
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
