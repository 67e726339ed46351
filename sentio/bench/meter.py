"""A dense Modbus TCP device for the ingest benchmark: many units, one full request each.

Each unit id serves ``FLOATS`` float32 values (big-endian words, holding 0..2*FLOATS-1) and
``INTS`` int16 values scaled by 0.1 (right after them): one read of ``REGISTERS`` registers
returns ``READINGS`` values, like a power meter's measurement block. Values move every second.
Run as ``python -m sentio.bench.meter --units N``; it prints the bound port on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import struct
import sys
import time
from collections.abc import Callable, Coroutine

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

FLOATS = 20
INTS = 80
REGISTERS = 2 * FLOATS + INTS
READINGS = FLOATS + INTS
INT_SCALE = 0.1


def block(unit: int, t: float) -> list[int]:
    """Return one unit's registers at time ``t``: slow sines around per-field levels."""
    words: list[int] = []
    for i in range(FLOATS):
        value = 230.0 + 10 * i + 2.0 * math.sin(t / 30 + unit + i)
        words.extend(struct.unpack(">HH", struct.pack(">f", value)))
    for i in range(INTS):
        value = 50.0 + i + 5.0 * math.sin(t / 20 + unit * 0.7 + i)
        words.append(round(value / INT_SCALE) & 0xFFFF)
    return words


Action = Callable[
    [int, int, int, int, list[int], list[int] | list[bool] | None],
    Coroutine[None, None, ExcCodes | None],
]


def holding_device(unit: int, registers: int, action: Action) -> SimDevice:
    """Return a pymodbus device of ``registers`` holding registers whose reads ``action`` serves."""
    return SimDevice(
        id=unit,
        simdata=(
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=[False] * 16, datatype=DataType.BITS)],
            [SimData(0, values=[0] * registers, datatype=DataType.REGISTERS)],
            [SimData(0, values=[0] * 16, datatype=DataType.REGISTERS)],
        ),
        action=action,
    )


class Meters:
    """The register blocks of every unit, refreshed by ``tick``."""

    def __init__(self, units: int) -> None:
        self.units = units
        self.blocks = {u: block(u, time.time()) for u in range(1, units + 1)}

    def tick(self) -> None:
        """Move every unit's values to now."""
        now = time.time()
        self.blocks = {u: block(u, now) for u in self.blocks}

    def device(self, unit: int) -> SimDevice:
        """Return the pymodbus device serving ``unit``."""

        async def serve(
            function_code: int,
            _start_address: int,
            address: int,
            count: int,
            registers: list[int],
            _set_values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if function_code != 3:
                return ExcCodes.ILLEGAL_FUNCTION
            registers[0:count] = self.blocks[unit][address : address + count]
            return None

        return holding_device(unit, REGISTERS, serve)


async def serve(host: str, port: int, units: int) -> None:
    """Serve ``units`` meters until SIGTERM or SIGINT."""
    meters = Meters(units)
    server = ModbusTcpServer([meters.device(u) for u in range(1, units + 1)], address=(host, port))
    await server.serve_forever(background=True)
    sockets = getattr(server.transport, "sockets", None)
    bound = int(sockets[0].getsockname()[1]) if sockets else port
    sys.stdout.write(f"{bound}\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=1.0)
        meters.tick()
    await server.shutdown()  # type: ignore[no-untyped-call]


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--units", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.units))


if __name__ == "__main__":
    main()
