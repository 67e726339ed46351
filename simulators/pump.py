"""A simulated centrifugal pump served over Modbus TCP by an in-process pymodbus server.

Register map (each table has its own address space; unit ids are chosen by the server):

=================  ==============  ==================================  =====
value              input (float32  holding (int16, scaled:             unit
                   big/big)        value = register x scale)
=================  ==============  ==================================  =====
vibration          0-1             0  (x 0.01)                         mm/s
bearing_temp       2-3             1  (x 0.1)                          Cel
motor_current      4-5             2  (x 0.01)                         A
pressure           6-7             3  (x 0.01)                         bar
flow               8-9             4  (x 0.1)                          m3/h
serial number      -               10-14 (string, 10 bytes)            -
run seconds        -               20-21 (uint32 big/big)              s
status word        -               22 (bit 0 running, 1 overheat,      -
                                   2 fault injected)
running            coil 0 (writable: false stops the pump)
overheat alarm     discrete input 0 (bearing temperature above 80 Cel)
=================  ==============  ==================================  =====

Two options model plant instruments (in ``Pump.values`` only, not in the register map): a pressure
gauge that reads in steps of ``pressure_step`` bar, and a control ``Valve`` on the outlet whose
position (``valve_position``, %) holds each of its positions for hours; flow, pressure and
motor current follow its opening.

Values change only when ``Pump.advance`` runs (directly, or every ``advance_every_s`` when the
server is started with it), so a test can compare what it reads with ``Pump.values`` exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Literal

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimAction, SimData, SimDevice

from .faults import (
    BearingWear,
    Dead,
    Drift,
    Fault,
    FaultSet,
    FaultyDevice,
    Spike,
    Stuck,
    WearEffect,
)

__all__ = [
    "OVERHEAT_CEL",
    "POINTS",
    "BearingWear",
    "Dead",
    "Drift",
    "Fault",
    "Metric",
    "Pump",
    "PumpPoint",
    "PumpServer",
    "Spike",
    "Stuck",
    "Valve",
]

Metric = Literal[
    "vibration", "bearing_temperature", "motor_current", "pressure", "flow", "valve_position"
]


@dataclass(frozen=True, slots=True)
class PumpPoint:
    """Where one pump value lives in the register map."""

    metric: Metric
    unit: str
    input_address: int
    holding_address: int
    scale: float


POINTS: tuple[PumpPoint, ...] = (
    PumpPoint("vibration", "mm/s", 0, 0, 0.01),
    PumpPoint("bearing_temperature", "Cel", 2, 1, 0.1),
    PumpPoint("motor_current", "A", 4, 2, 0.01),
    PumpPoint("pressure", "bar", 6, 3, 0.01),
    PumpPoint("flow", "m3/h", 8, 4, 0.1),
)


def modbus_fields() -> list[dict[str, object]]:
    """Return the Modbus connector's field list that reads every pump value (input registers)."""
    return [
        {"name": p.metric, "table": "input", "address": p.input_address, "type": "float32",
         "unit": p.unit}
        for p in POINTS
    ]  # fmt: skip


NOMINAL: dict[Metric, float] = {
    "vibration": 2.5,
    "bearing_temperature": 45.0,
    "motor_current": 12.0,
    "pressure": 4.2,
    "flow": 35.0,
}
STOPPED: dict[Metric, float] = {
    "vibration": 0.0,
    "bearing_temperature": 25.0,
    "motor_current": 0.0,
    "pressure": 0.0,
    "flow": 0.0,
}
WEAR: dict[str, WearEffect] = {
    "vibration": WearEffect(4.0, 2.0),
    "bearing_temperature": WearEffect(15.0, 5.0),
    "motor_current": WearEffect(0.5),
}
NOISE_FRACTION = 0.01
VALVE_NOMINAL = 60.0
# How far the outlet pressure rises (bar) as the valve closes from its nominal opening to shut.
VALVE_HEAD_BAR = 1.2
OVERHEAT_CEL = 80.0
SERIAL_ADDRESS = 10
SERIAL_BYTES = 10
RUN_SECONDS_ADDRESS = 20
STATUS_ADDRESS = 22
HOLDING_SIZE = 23
INPUT_SIZE = 10
COIL_RUNNING = 0
DISCRETE_OVERHEAT = 0


@dataclass(frozen=True, slots=True)
class Valve:
    """A control valve on the outlet, stepping through ``positions`` (%), each for ``hold_s``."""

    positions: tuple[float, ...] = (60.0, 45.0, 75.0)
    hold_s: float = 4 * 3600.0

    def position(self, elapsed_s: float) -> float:
        """Return the valve's opening (%) at ``elapsed_s``."""
        return self.positions[int(elapsed_s // self.hold_s) % len(self.positions)]


class Pump(FaultyDevice):
    """The pump's physical state and its injected faults; advanced in simulated time."""

    def __init__(
        self,
        *,
        seed: int = 0,
        serial: str = "PUMP-0001",
        noise: bool = True,
        pressure_step: float | None = None,
        valve: Valve | None = None,
    ) -> None:
        self._rng = random.Random(seed)
        self._noise = noise
        self.serial = serial
        self.pressure_step = pressure_step
        self.valve = valve
        self.elapsed_s = 0.0
        self.run_seconds = 0
        self.running = True
        self.faults = FaultSet([*NOMINAL, *(["valve_position"] if valve else [])])
        self._values = self._compute()

    @property
    def values(self) -> Mapping[str, float]:
        """Return the values the pump serves now."""
        return dict(self._values)

    @property
    def overheat(self) -> bool:
        """Return whether the bearing temperature is above the alarm threshold."""
        return self._values["bearing_temperature"] > OVERHEAT_CEL

    def advance(self, dt_s: float = 1.0) -> Mapping[str, float]:
        """Advance simulated time by ``dt_s`` seconds and return the new values."""
        self.elapsed_s += dt_s
        if self.running:
            self.run_seconds += round(dt_s)
        self._values = self._compute()
        return self.values

    def _compute(self) -> dict[str, float]:
        base = dict(NOMINAL if self.running else STOPPED)
        if self.valve is not None:
            position = self.valve.position(self.elapsed_s)
            opening = position / VALVE_NOMINAL if self.running else 0.0
            if self.running:
                base["flow"] *= opening
                base["pressure"] += VALVE_HEAD_BAR * (1.0 - opening)
                base["motor_current"] *= 0.7 + 0.3 * opening
        values: dict[str, float] = {}
        for metric, nominal in base.items():
            noise = self._rng.gauss(0.0, nominal * NOISE_FRACTION) if self._noise else 0.0
            values[metric] = nominal + noise
        if self.valve is not None:
            values["valve_position"] = position
        wear = WEAR if self.running else {}
        values = self.faults.apply(values, self.elapsed_s, self._rng, wear)
        if self.pressure_step:
            values["pressure"] = round(values["pressure"] / self.pressure_step) * self.pressure_step
        return values

    def holding_value(self, point: PumpPoint) -> int:
        """Return the signed int16 a holding register serves for ``point``."""
        return max(-32768, min(32767, round(self._values[point.metric] / point.scale)))

    def input_registers(self) -> list[int]:
        """Return the input registers 0..9 (float32, big-endian bytes and words)."""
        regs: list[int] = []
        for point in POINTS:
            hi, lo = struct.unpack(">HH", struct.pack(">f", self._values[point.metric]))
            regs += [hi, lo]
        return regs

    def holding_registers(self) -> list[int]:
        """Return the holding registers 0..22."""
        regs = [0] * HOLDING_SIZE
        for point in POINTS:
            regs[point.holding_address] = self.holding_value(point) & 0xFFFF
        raw = self.serial.encode()[:SERIAL_BYTES].ljust(SERIAL_BYTES, b"\x00")
        for i in range(SERIAL_BYTES // 2):
            regs[SERIAL_ADDRESS + i] = int.from_bytes(raw[2 * i : 2 * i + 2], "big")
        seconds = self.run_seconds & 0xFFFFFFFF
        regs[RUN_SECONDS_ADDRESS] = seconds >> 16
        regs[RUN_SECONDS_ADDRESS + 1] = seconds & 0xFFFF
        regs[STATUS_ADDRESS] = (
            int(self.running) | int(self.overheat) << 1 | int(bool(self.faults.active)) << 2
        )
        return regs


def _sim_device(unit_id: int, action: SimAction) -> SimDevice:
    bits = [False] * 16
    return SimDevice(
        id=unit_id,
        simdata=(
            [SimData(0, values=list(bits), datatype=DataType.BITS)],
            [SimData(0, values=list(bits), datatype=DataType.BITS)],
            [SimData(0, values=[0] * HOLDING_SIZE, datatype=DataType.REGISTERS)],
            [SimData(0, values=[0] * INPUT_SIZE, datatype=DataType.REGISTERS)],
        ),
        action=action,
    )


async def _serve(
    pump: Pump,
    function_code: int,
    start_address: int,
    address: int,
    count: int,
    registers: list[int],
    set_values: list[int] | list[bool] | None,
) -> ExcCodes | None:
    """Fill the accessed block with the pump's current values, or fail as a dead pump."""
    if pump.dead:
        return ExcCodes.GATEWAY_NO_RESPONSE
    if function_code == 4:
        block = pump.input_registers()
    elif function_code in {3, 6, 16, 23}:
        block = pump.holding_registers()
    elif function_code in {1, 5, 15}:
        if set_values and address <= COIL_RUNNING < address + count:
            pump.running = bool(set_values[COIL_RUNNING - address])
        block = [int(pump.running) << COIL_RUNNING]
    elif function_code == 2:
        block = [int(pump.overheat) << DISCRETE_OVERHEAT]
    else:
        return ExcCodes.ILLEGAL_FUNCTION
    registers[0 : len(block)] = block
    return None


class PumpServer:
    """A Modbus TCP server in this event loop serving one Pump per unit id."""

    def __init__(
        self,
        pumps: Mapping[int, Pump],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        advance_every_s: float | None = None,
    ) -> None:
        self.pumps = dict(pumps)
        self.host = host
        self.port = port
        self.advance_every_s = advance_every_s
        self._server: ModbusTcpServer | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start listening; with port 0, ``port`` holds the port bound."""
        devices = [_sim_device(uid, partial(_serve, pump)) for uid, pump in self.pumps.items()]
        server = ModbusTcpServer(devices, address=(self.host, self.port))
        await server.serve_forever(background=True)
        self._server = server
        sockets = getattr(server.transport, "sockets", None)
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        if self.advance_every_s:
            self._ticker = asyncio.create_task(self._tick(self.advance_every_s))

    async def stop(self) -> None:
        """Stop the server, dropping client connections; safe to call twice."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._server is not None:
            listener = self._server.transport
            await self._server.shutdown()  # type: ignore[no-untyped-call]
            if isinstance(listener, asyncio.Server):
                await listener.wait_closed()
            self._server = None

    async def _tick(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            for pump in self.pumps.values():
                pump.advance(every_s)

    async def __aenter__(self) -> PumpServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
