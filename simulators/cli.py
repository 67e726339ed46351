"""`sentio simulate`: serve simulated pumps (Modbus), a line (OPC-UA) and Zigbee sensors (MQTT)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console

from sentio.errors import SentioError
from sentio.redact import redact

from . import fleet
from .faults import KINDS, Fault
from .fleet import Target, build_fleet

err = Console(stderr=True, soft_wrap=True)
FAULT_HELP = (
    "Inject a fault, repeatable: TARGET=FAULT. TARGET is a pump's UNIT (or pump:UNIT), "
    "line:STATION (Conveyor, Press, Oven) or zigbee:NAME (climate-1, contact-2, …). "
    f"FAULT is {KINDS}; wear fits pumps and stations only. A metric is one the target serves: "
    "pumps vibration, bearing_temperature, motor_current, pressure, flow; stations speed, "
    "motor_current, temperature, pressure; Zigbee sensors temperature, humidity, pressure, "
    "illuminance, battery, voltage, linkquality. "
    "E.g. 2=wear:3, line:Oven=drift:temperature:5, zigbee:climate-1=dead."
)


def parse_fault(text: str) -> tuple[Target, Fault]:
    """Parse ``TARGET=FAULT``, e.g. ``1=wear:2``, ``line:Press=spike:pressure:40``."""
    try:
        return fleet.parse_fault(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def simulate(
    pumps: Annotated[
        int, typer.Option(help="Pumps served over Modbus TCP, unit ids 1..N (0: none).", min=0)
    ] = 2,
    modbus_port: Annotated[
        int, typer.Option("--modbus-port", "--port", help="Modbus TCP port (0: any free one).")
    ] = 5020,
    line: Annotated[
        bool, typer.Option("--line", help="Serve the production line Line1 over OPC-UA.")
    ] = False,
    opcua_port: Annotated[int, typer.Option(help="OPC-UA port (0: any free one).")] = 4840,
    zigbee: Annotated[
        int, typer.Option(help="Zigbee sensors published over MQTT as Zigbee2MQTT does.", min=0)
    ] = 0,
    mqtt_url: Annotated[
        str, typer.Option(help="Broker for the Zigbee sensors: mqtt://[user[:pass]@]host[:port].")
    ] = "mqtt://127.0.0.1:1883",
    base_topic: Annotated[str, typer.Option(help="Zigbee2MQTT base topic.")] = "zigbee2mqtt",
    host: Annotated[str, typer.Option(help="Address the Modbus and OPC-UA servers listen on.")] = (
        "127.0.0.1"
    ),
    tick_s: Annotated[float, typer.Option(help="Seconds between value updates.", min=0.1)] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed of the simulated noise.")] = 0,
    fault: Annotated[list[str] | None, typer.Option(help=FAULT_HELP)] = None,
    fault_after: Annotated[
        float, typer.Option(help="Seconds of serving before the faults are injected.", min=0)
    ] = 0.0,
) -> None:
    """Serve simulated devices until Ctrl-C: pumps (Modbus), a line (OPC-UA), Zigbee (MQTT)."""
    from .serve import Options, parse_mqtt_url, serve

    if not (pumps or line or zigbee):
        raise typer.BadParameter("nothing to simulate: give --pumps N, --line or --zigbee N")
    try:
        broker = parse_mqtt_url(mqtt_url)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--mqtt-url") from None
    faults = [parse_fault(spec) for spec in fault or []]
    devices = build_fleet(pumps, line, zigbee, seed)
    try:
        devices.check(faults)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--fault") from None
    options = Options(host, modbus_port, opcua_port, broker, base_topic, tick_s, fault_after)
    try:
        asyncio.run(serve(devices, options, faults, _say))
    except (OSError, SentioError) as exc:
        err.print(f"error: {redact(str(exc))}", markup=False, highlight=False)
        raise typer.Exit(1) from None


def _say(message: str) -> None:
    err.print(message, markup=False, highlight=False)
