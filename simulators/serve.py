"""Serve a fleet's pumps, line and Zigbee sensors together until stopped, injecting faults."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from sentio.redact import redact

from .faults import Fault
from .fleet import Fleet, Target

Say = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the Zigbee sensors are published: an MQTT broker and its credentials."""

    host: str
    port: int = 1883
    username: str | None = None
    password: str | None = None


def parse_mqtt_url(url: str) -> Broker:
    """Parse ``mqtt://[user[:password]@]host[:port]``; raise ValueError if it is not one."""
    parts = urlsplit(url)
    try:
        port = parts.port or 1883
    except ValueError:
        raise ValueError(f"{redact(url)!r}: bad port") from None
    if parts.scheme != "mqtt" or not parts.hostname or parts.path not in {"", "/"}:
        raise ValueError(f"{redact(url)!r} is not mqtt://[user[:password]@]host[:port]")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return Broker(parts.hostname, port, username, password)


@dataclass(frozen=True, slots=True)
class Options:
    """Where each protocol listens or publishes, and how time and faults run."""

    host: str = "127.0.0.1"
    modbus_port: int = 5020
    opcua_port: int = 4840
    broker: Broker = Broker("127.0.0.1")
    base_topic: str = "zigbee2mqtt"
    tick_s: float = 1.0
    fault_after_s: float = 0.0


async def serve(
    fleet: Fleet,
    options: Options,
    faults: Sequence[tuple[Target, Fault]],
    say: Say,
    stop: asyncio.Event | None = None,
) -> None:
    """Serve every device of ``fleet`` until ``stop`` is set (by default: SIGINT or SIGTERM)."""
    if not options.fault_after_s:
        for message in fleet.inject(faults):
            say(message)
        faults = ()
    stop = stop or _on_signals()
    async with contextlib.AsyncExitStack() as stack:
        if fleet.pumps:
            from .pump import PumpServer

            pumps = PumpServer(
                fleet.pumps,
                host=options.host,
                port=options.modbus_port,
                advance_every_s=options.tick_s,
            )
            await stack.enter_async_context(pumps)
            say(
                f"Modbus TCP {options.host}:{pumps.port}: {len(fleet.pumps)} pump(s), "
                f"unit ids {sorted(fleet.pumps)}"
            )
        if fleet.line is not None:
            from .line import URI, LineServer

            line = LineServer(
                fleet.line,
                host=options.host,
                port=options.opcua_port,
                advance_every_s=options.tick_s,
            )
            await stack.enter_async_context(line)
            stations = ", ".join(fleet.line.stations)
            say(f"OPC-UA {line.endpoint}: {fleet.line.name} ({stations}), namespace {URI}")
        if fleet.sensors:
            from .zigbee import ZigbeePublisher

            broker = options.broker
            publisher = ZigbeePublisher(
                fleet.sensors.values(),
                host=broker.host,
                port=broker.port,
                username=broker.username,
                password=broker.password,
                base_topic=options.base_topic,
                advance_every_s=options.tick_s,
            )
            await stack.enter_async_context(publisher)
            say(
                f"MQTT {broker.host}:{broker.port}: {len(fleet.sensors)} Zigbee sensor(s) "
                f"under {options.base_topic}/ ({', '.join(fleet.sensors)})"
            )
        injector = asyncio.create_task(fleet.inject_after(faults, options.fault_after_s, say))
        try:
            await stop.wait()
        finally:
            injector.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await injector


def _on_signals() -> asyncio.Event:
    """Return an event that SIGINT or SIGTERM sets."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop
