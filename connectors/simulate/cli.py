"""`sentio simulate`: serve simulated pumps over Modbus TCP, with faults injected by option."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated, cast, get_args

import typer
from rich.console import Console

from .faults import BearingWear, Dead, Drift, Fault, Metric, Spike, Stuck

if TYPE_CHECKING:
    from .pump import Pump

err = Console(stderr=True, soft_wrap=True)
FAULTS = "wear[:rate_per_h], drift:metric:rate_per_h, stuck:metric, spike:metric:magnitude, dead"


def _metric(name: str) -> Metric:
    if name not in get_args(Metric):
        raise ValueError(name)
    return cast(Metric, name)


def parse_fault(text: str) -> tuple[int, Fault]:
    """Parse `UNIT=KIND[:ARGS]`, e.g. `1=wear:2` or `2=spike:vibration:5`."""
    unit, sep, spec = text.partition("=")
    if not sep or not unit.isdigit():
        raise typer.BadParameter(f"{text!r}: expected UNIT=FAULT ({FAULTS})")
    kind, *args = spec.split(":")
    try:
        fault: Fault
        if kind == "wear":
            fault = BearingWear(*(float(a) for a in args))
        elif kind == "drift":
            fault = Drift(_metric(args[0]), float(args[1]))
        elif kind == "stuck":
            fault = Stuck(_metric(args[0]))
        elif kind == "spike":
            fault = Spike(_metric(args[0]), float(args[1]))
        elif kind == "dead" and not args:
            fault = Dead()
        else:
            raise ValueError(kind)
    except (ValueError, IndexError, TypeError):
        raise typer.BadParameter(f"{text!r}: unknown fault or arguments ({FAULTS})") from None
    return int(unit), fault


async def _serve(host: str, port: int, pumps: dict[int, Pump], tick_s: float) -> None:
    from .pump import PumpServer

    server = PumpServer(pumps, host=host, port=port, advance_every_s=tick_s)
    await server.start()
    err.print(f"serving {len(pumps)} pump(s), unit ids {sorted(pumps)}, on {host}:{server.port}")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def simulate(
    pumps: Annotated[int, typer.Option(help="Pumps to serve, unit ids 1..N.", min=1)] = 2,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Modbus TCP port.")] = 5020,
    tick_s: Annotated[float, typer.Option(help="Simulated seconds per second.", min=0.1)] = 1.0,
    fault: Annotated[
        list[str] | None, typer.Option(help=f"UNIT=FAULT, repeatable: {FAULTS}.")
    ] = None,
) -> None:
    """Serve simulated pumps over Modbus TCP until Ctrl-C."""
    from .pump import Pump

    devices = {unit: Pump(seed=unit, serial=f"PUMP-{unit:04d}") for unit in range(1, pumps + 1)}
    for spec in fault or []:
        unit, injected = parse_fault(spec)
        if unit not in devices:
            raise typer.BadParameter(f"{spec!r}: no pump with unit id {unit}")
        devices[unit].inject(injected)
    asyncio.run(_serve(host, port, devices, tick_s))
