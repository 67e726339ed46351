"""The simulated devices of one run, and the ``TARGET=FAULT`` specs that inject faults into them.

Errors raised here extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── FaultError   a fault names no simulated device, or does not fit the device it names
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from sentio.errors import SentioError

from .faults import KINDS, Fault, FaultSet, parse_kind

if TYPE_CHECKING:
    from .line import Line
    from .pump import Pump
    from .zigbee import ZigbeeSensor

TARGETS = "UNIT=FAULT or pump:UNIT=FAULT, line:STATION=FAULT, zigbee:NAME=FAULT"


class FaultError(SentioError, ValueError):
    """Raise when a fault names no simulated device, or does not fit the device it names."""


@dataclass(frozen=True, slots=True)
class StationTarget:
    """A station of the simulated OPC-UA line, by name."""

    name: str


@dataclass(frozen=True, slots=True)
class SensorTarget:
    """A simulated Zigbee sensor, by friendly name."""

    name: str


Target = int | StationTarget | SensorTarget
"""A pump (by unit id), a line station, or a Zigbee sensor."""


class Device(Protocol):
    """Anything simulated that takes faults."""

    faults: FaultSet

    def inject(self, fault: Fault) -> None:
        """Inject a fault."""


def _metrics(target: Target) -> tuple[str, ...]:
    """Return the metrics a fault may name for this kind of target."""
    if isinstance(target, int):
        from .pump import NOMINAL

        return tuple(NOMINAL)
    if isinstance(target, StationTarget):
        from .line import STATIONS

        for spec in STATIONS:
            if spec.name.lower() == target.name.lower():
                return tuple(s.metric for s in spec.signals)
        raise ValueError(
            f"no station {target.name!r}; one of {', '.join(s.name for s in STATIONS)}"
        )
    from .zigbee import MODELS

    return tuple(dict.fromkeys(m for model in MODELS.values() for m in model.metrics))


def parse_target(text: str) -> Target:
    """Parse ``UNIT``, ``pump:UNIT``, ``line:STATION`` or ``zigbee:NAME``."""
    kind, sep, name = text.partition(":")
    if not sep:
        kind, name = "pump", text
    if kind == "pump" and name.isdigit():
        return int(name)
    if kind == "line" and name:
        return StationTarget(name)
    if kind == "zigbee" and name:
        return SensorTarget(name)
    raise ValueError(f"{text!r} is not a target: expected {TARGETS}")


def parse_fault(text: str) -> tuple[Target, Fault]:
    """Parse ``TARGET=KIND[:ARGS]``, e.g. ``2=spike:vibration:5`` or ``line:Oven=dead``."""
    target_text, sep, spec = text.rpartition("=")
    if not sep:
        raise ValueError(f"{text!r}: expected {TARGETS}; FAULT is one of {KINDS}")
    target = parse_target(target_text)
    fault = parse_kind(spec)
    metric = getattr(fault, "metric", None)
    metrics = _metrics(target)
    if metric is not None and metric not in metrics:
        raise ValueError(f"{text!r}: unknown fault metric {metric!r}; one of {', '.join(metrics)}")
    return target, fault


@dataclass
class Fleet:
    """The pumps, line and Zigbee sensors one run simulates."""

    pumps: dict[int, Pump] = field(default_factory=dict)
    line: Line | None = None
    sensors: dict[str, ZigbeeSensor] = field(default_factory=dict)

    def device(self, target: Target) -> tuple[str, Device]:
        """Return the device ``target`` names and its label; raise FaultError if there is none."""
        if isinstance(target, int):
            if target not in self.pumps:
                raise FaultError(f"no pump with unit id {target}; unit ids {sorted(self.pumps)}")
            return f"pump-{target}", self.pumps[target]
        if isinstance(target, StationTarget):
            if self.line is None:
                raise FaultError(f"no line is simulated for line:{target.name}")
            try:
                station = self.line.station(target.name)
            except KeyError as exc:
                raise FaultError(exc.args[0]) from None
            return f"{self.line.name}.{station.name}", station
        if target.name not in self.sensors:
            names = ", ".join(self.sensors) or "none"
            raise FaultError(f"no Zigbee sensor named {target.name!r}; sensors: {names}")
        return target.name, self.sensors[target.name]

    def check(self, faults: Iterable[tuple[Target, Fault]]) -> None:
        """Raise FaultError naming the first fault that has no device or does not fit it."""
        for target, fault in faults:
            label, device = self.device(target)
            try:
                device.faults.check(fault)
            except ValueError as exc:
                raise FaultError(f"{label}: {exc}") from None

    def inject(self, faults: Sequence[tuple[Target, Fault]]) -> list[str]:
        """Inject every fault; return what was injected where."""
        self.check(faults)
        done = []
        for target, fault in faults:
            label, device = self.device(target)
            device.inject(fault)
            done.append(f"injected {fault} into {label}")
        return done

    async def inject_after(
        self, faults: Sequence[tuple[Target, Fault]], delay_s: float, say: Callable[[str], None]
    ) -> None:
        """Wait ``delay_s`` seconds, then inject every fault and say so."""
        if faults:
            await asyncio.sleep(delay_s)
            for message in self.inject(faults):
                say(message)


def build_fleet(pumps: int, line: bool, zigbee: int, seed: int = 0) -> Fleet:
    """Return the devices asked for: pumps 1..N, the line, and N Zigbee sensors."""
    devices = Fleet()
    if pumps:
        from .pump import Pump

        devices.pumps = {
            u: Pump(seed=seed * 100 + u, serial=f"PUMP-{u:04d}") for u in range(1, pumps + 1)
        }
    if line:
        from .line import Line

        devices.line = Line(seed=seed)
    if zigbee:
        from .signals import DAY_S
        from .zigbee import sensors

        clock_s = time.time() % DAY_S
        devices.sensors = {s.name: s for s in sensors(zigbee, seed=seed, clock_s=clock_s)}
    return devices
