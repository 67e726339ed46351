"""A simulated production line served over OPC-UA by an in-process asyncua server.

Address space, in namespace ``urn:sentio:simulate:line`` with string node ids::

    Objects/Line1                 ns=<i>;s=Line1
      Conveyor, Press, Oven       ns=<i>;s=Line1.<Station>
        <Variable>                ns=<i>;s=Line1.<Station>.<Variable>

========  ====================================================================
station   variables (Double; unit)
========  ====================================================================
Conveyor  Speed (m/s), MotorCurrent (A), Temperature (Cel, drive motor)
Press     Pressure (bar, hydraulic), MotorCurrent (A), Temperature (Cel, oil)
Oven      Temperature (Cel), MotorCurrent (A, circulation fan)
each      PartCount (UInt32), State (Int32: 0 stopped, 1 running)
========  ====================================================================

A station with a Dead fault serves every variable with status ``BadNoCommunication``.
Values change only when ``Line.advance`` runs and reach the server on ``LineServer.update``
(the server does both every ``advance_every_s`` when started with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from types import TracebackType
from urllib.parse import urlparse

from asyncua import ua
from asyncua.server.server import Server
from asyncua.ua.status_codes import StatusCodes

from .faults import FaultSet, FaultyDevice, WearEffect
from .signals import lag, noisy

URI = "urn:sentio:simulate:line"
PATH = "/sentio/line"
STOPPED, RUNNING = 0, 1
SESSION_TIMEOUT_MS = 3_600_000  # what asyncua clients ask for by default


@dataclass(frozen=True, slots=True)
class Signal:
    """One analog variable of a station: its level running and stopped, noise and lag."""

    metric: str
    node: str
    unit: str
    running: float
    stopped: float
    sigma: float
    tau_s: float = 2.0


@dataclass(frozen=True, slots=True)
class StationSpec:
    """What a station measures, how wear shows in it, and how fast it makes parts."""

    name: str
    signals: tuple[Signal, ...]
    wear: Mapping[str, WearEffect]
    parts_per_min: float = 12.0


STATIONS: tuple[StationSpec, ...] = (
    StationSpec(
        "Conveyor",
        (
            Signal("speed", "Speed", "m/s", 0.5, 0.0, 0.004, 3.0),
            Signal("motor_current", "MotorCurrent", "A", 6.5, 0.0, 0.08),
            Signal("temperature", "Temperature", "Cel", 42.0, 25.0, 0.1, 900.0),
        ),
        {
            "motor_current": WearEffect(0.8, 0.3),
            "temperature": WearEffect(6.0, 2.0),
            "speed": WearEffect(-0.01),
        },
    ),
    StationSpec(
        "Press",
        (
            Signal("pressure", "Pressure", "bar", 160.0, 5.0, 1.2, 5.0),
            Signal("motor_current", "MotorCurrent", "A", 22.0, 0.0, 0.3),
            Signal("temperature", "Temperature", "Cel", 48.0, 25.0, 0.1, 1200.0),
        ),
        {
            "pressure": WearEffect(-6.0, -1.0),
            "motor_current": WearEffect(1.5, 0.5),
            "temperature": WearEffect(8.0, 3.0),
        },
    ),
    StationSpec(
        "Oven",
        (
            Signal("temperature", "Temperature", "Cel", 180.0, 25.0, 0.4, 600.0),
            Signal("motor_current", "MotorCurrent", "A", 4.2, 0.0, 0.05),
        ),
        {"motor_current": WearEffect(0.6, 0.2), "temperature": WearEffect(-4.0, -1.0)},
    ),
)


class Station(FaultyDevice):
    """One station's physical state and injected faults, advanced in simulated time."""

    def __init__(self, spec: StationSpec, *, seed: int = 0, noise: bool = True) -> None:
        self.spec = spec
        self.name = spec.name
        self.running = True
        self.elapsed_s = 0.0
        self._rng = random.Random(seed)
        self._noise = noise
        self._parts = 0.0
        self._true = {s.metric: s.running for s in spec.signals}
        self.faults = FaultSet(self._true)
        self._values = self._compute()

    @property
    def values(self) -> Mapping[str, float]:
        """Return the analog values the station serves now."""
        return dict(self._values)

    @property
    def part_count(self) -> int:
        """Return the parts made since start."""
        return int(self._parts)

    @property
    def state(self) -> int:
        """Return 1 while running, 0 when stopped."""
        return RUNNING if self.running else STOPPED

    def advance(self, dt_s: float = 1.0) -> Mapping[str, float]:
        """Advance simulated time by ``dt_s`` seconds and return the new values."""
        self.elapsed_s += dt_s
        for signal in self.spec.signals:
            target = signal.running if self.running else signal.stopped
            self._true[signal.metric] = lag(self._true[signal.metric], target, dt_s, signal.tau_s)
        if self.running:
            self._parts += self.spec.parts_per_min * dt_s / 60.0
        self._values = self._compute()
        return self.values

    def _compute(self) -> dict[str, float]:
        rng = self._rng if self._noise else None
        values = {s.metric: noisy(rng, self._true[s.metric], s.sigma) for s in self.spec.signals}
        wear = self.spec.wear if self.running else {}
        return self.faults.apply(values, self.elapsed_s, self._rng, wear)


class Line:
    """A production line of stations advanced together."""

    def __init__(
        self,
        name: str = "Line1",
        *,
        seed: int = 0,
        noise: bool = True,
        stations: tuple[StationSpec, ...] = STATIONS,
    ) -> None:
        self.name = name
        self.stations = {
            spec.name: Station(spec, seed=seed * 100 + i, noise=noise)
            for i, spec in enumerate(stations)
        }

    def station(self, name: str) -> Station:
        """Return the station called ``name`` (any case); raise KeyError naming the choices."""
        for station in self.stations.values():
            if station.name.lower() == name.lower():
                return station
        raise KeyError(f"no station {name!r}; one of {', '.join(self.stations)}")

    def advance(self, dt_s: float = 1.0) -> None:
        """Advance every station by ``dt_s`` simulated seconds."""
        for station in self.stations.values():
            station.advance(dt_s)

    def node_id(self, station: str, variable: str) -> str:
        """Return the string identifier of a variable, e.g. ``Line1.Oven.Temperature``."""
        return f"{self.name}.{station}.{variable}"


def _variables(station: Station) -> list[tuple[str, ua.Variant]]:
    """Return the station's variables by node name, with the values they serve now."""
    values = station.values
    found = [
        (s.node, ua.Variant(values[s.metric], ua.VariantType.Double)) for s in station.spec.signals
    ]
    found.append(("PartCount", ua.Variant(station.part_count, ua.VariantType.UInt32)))
    found.append(("State", ua.Variant(station.state, ua.VariantType.Int32)))
    return found


class LineServer:
    """An OPC-UA server in this event loop serving one Line."""

    def __init__(
        self,
        line: Line,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        advance_every_s: float | None = None,
    ) -> None:
        self.line = line
        self.host = host
        self.port = port
        self.advance_every_s = advance_every_s
        self.namespace_index = 0
        self._server: Server | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def endpoint(self) -> str:
        """Return the endpoint URL clients connect to."""
        return f"opc.tcp://{self.host}:{self.port}{PATH}"

    async def start(self) -> None:
        """Build the address space and listen; with port 0, ``port`` holds the port bound."""
        server = Server()
        await server.init()
        server.set_endpoint(self.endpoint)
        server.set_server_name("Sentio simulated production line")
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
        server.set_identity_tokens([ua.AnonymousIdentityToken])
        server.iserver.max_session_timeout_ms = SESSION_TIMEOUT_MS
        index = await server.register_namespace(URI)
        line = await server.nodes.objects.add_object(
            _node_id(self.line.name, index),
            ua.QualifiedName(self.line.name, index),
        )
        for station in self.line.stations.values():
            folder = await line.add_object(
                _node_id(f"{self.line.name}.{station.name}", index),
                ua.QualifiedName(station.name, index),
            )
            for node, variant in _variables(station):
                node_id = self.line.node_id(station.name, node)
                await folder.add_variable(
                    _node_id(node_id, index),
                    ua.QualifiedName(node, index),
                    variant,
                )
        await server.start()
        self._server = server
        self.namespace_index = index
        if server.bserver is not None and server.bserver.port != self.port:
            self.port = server.bserver.port
            _advertise(server, self.endpoint)
        await self.update()
        if self.advance_every_s:
            self._ticker = asyncio.create_task(self._tick(self.advance_every_s))

    async def update(self) -> None:
        """Write every station's current values (or its dead status) into the address space."""
        server = self._server
        if server is None:
            return
        now = ua.DateTime.now(UTC)
        bad = ua.StatusCode(ua.UInt32(StatusCodes.BadNoCommunication))
        for station in self.line.stations.values():
            for node, variant in _variables(station):
                value = ua.DataValue(
                    variant,
                    StatusCode=bad if station.dead else ua.StatusCode(),
                    SourceTimestamp=now,
                    ServerTimestamp=now,
                )
                node_id = _node_id(self.line.node_id(station.name, node), self.namespace_index)
                await server.write_attribute_value(node_id, value)

    async def stop(self) -> None:
        """Stop the ticker and the server, dropping client sessions; safe to call twice."""
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        server, self._server = self._server, None
        if server is not None:
            await server.stop()

    async def _tick(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.line.advance(every_s)
            await self.update()

    async def __aenter__(self) -> LineServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def _advertise(server: Server, url: str) -> None:
    """Advertise ``url`` in the endpoints, which were built before port 0 was bound."""
    server.endpoint = urlparse(url)
    for endpoint in server.iserver.endpoints:
        endpoint.EndpointUrl = url
        endpoint.Server.DiscoveryUrls = [url]


def _node_id(identifier: str, index: int) -> ua.NodeId:
    return ua.NodeId(ua.String(identifier), ua.Int16(index), ua.NodeIdType.String)
