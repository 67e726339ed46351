"""The demo's plant: simulated devices, the collector reading them, and the AI engine.

Pumps over Modbus and a production line over OPC-UA always run; Zigbee sensors over MQTT run
when Mosquitto is installed (the plant starts its own broker on a free loopback port).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiohttp

from sentio.ai_engine.scheduler import Scheduler
from sentio.collectors.runtime import Collector
from sentio.config import AIQueryConfig, ConnectorInstanceConfig, SentioConfig
from sentio.simulators.faults import Fault
from sentio.simulators.fleet import FaultError, Fleet, Target, build_fleet
from sentio.simulators.line import URI, Line, LineServer
from sentio.simulators.mosquitto import Mosquitto, MosquittoError
from sentio.simulators.pump import PumpServer, modbus_fields
from sentio.simulators.zigbee import ZigbeePublisher
from sentio.telemetry import Telemetry

Progress = Callable[[str], None]
T = TypeVar("T")
INSTANCE = "demo-pumps"
LINE_INSTANCE = "demo-line"
ZIGBEE_INSTANCE = "demo-zigbee"
LOGGERS = ("sentio.ai", "sentio.collector", "sentio.simulate")
PUMPS = 2
ZIGBEE_SENSORS = 3
POLL_S = 2
STOP_GRACE_S = 5.0  # what a task gets to stop before it is cancelled and named


def demo_fleet(zigbee: bool) -> Fleet:
    """Return the demo's devices: the pumps, the line, and the Zigbee sensors if ``zigbee``."""
    return build_fleet(PUMPS, True, ZIGBEE_SENSORS if zigbee else 0)


def line_devices(line: Line) -> list[dict[str, Any]]:
    """Return the OPC-UA connector's devices for ``line``: one per station, nsu= node ids."""
    devices = []
    for station in line.stations.values():
        nodes = [(s.metric, s.node, s.unit) for s in station.spec.signals] + [
            ("part_count", "PartCount", "{part}"),
            ("state", "State", "{state}"),
        ]
        devices.append(
            {
                "name": f"{line.name}-{station.name}".lower(),
                "poll_interval_s": POLL_S,
                "nodes": [
                    {"name": name, "node_id": f"nsu={URI};s={line.node_id(station.name, node)}",
                     "unit": unit}
                    for name, node, unit in nodes
                ],
            }
        )  # fmt: skip
    return devices


def plant_config(
    config: SentioConfig, port: int, line: LineServer, mqtt_port: int | None = None
) -> SentioConfig:
    """Return ``config`` plus the demo's connectors and its AI query."""
    fields = modbus_fields()
    connectors = [
        ConnectorInstanceConfig(
            name=INSTANCE,
            type="modbus",
            poll_interval_s=POLL_S,
            config={
                "connection": {"type": "tcp", "host": "127.0.0.1", "port": port},
                "devices": [
                    {"name": f"pump-{u}", "unit_id": u, "fields": fields}
                    for u in range(1, PUMPS + 1)
                ],
            },
        ),
        ConnectorInstanceConfig(
            name=LINE_INSTANCE,
            type="opcua",
            poll_interval_s=POLL_S,
            config={"endpoint": line.endpoint, "devices": line_devices(line.line)},
        ),
    ]
    if mqtt_port is not None:
        connectors.append(
            ConnectorInstanceConfig(
                name=ZIGBEE_INSTANCE,
                type="zigbee2mqtt",
                config={"broker": {"host": "127.0.0.1", "port": mqtt_port, "qos": 1}},
            )
        )
    query = AIQueryConfig(
        name="pump-vibration",
        promql=f'vibration_mm_per_second{{instance="{INSTANCE}"}}',
        step_s=2,
        fit_every_s=300,
        fit_window_s=3600,
        infer_every_s=10,
        model="robust",
    )
    ai = config.ai.model_copy(update={"queries": [*config.ai.queries, query]})
    return config.model_copy(update={"connectors": [*config.connectors, *connectors], "ai": ai})


class Plant:
    """Run the simulated devices, the collector and the AI engine in a background event loop."""

    def __init__(
        self,
        config: SentioConfig,
        telemetry: Telemetry,
        fleet: Fleet,
        faults: Sequence[tuple[Target, Fault]],
        fault_after_s: float,
        progress: Progress,
        mosquitto: str | None = None,
    ) -> None:
        self.fleet = fleet
        self.base = config
        self.telemetry = telemetry
        self.faults = faults
        self.fault_after_s = fault_after_s
        self.progress = progress
        self.mosquitto = mosquitto
        self.handler = telemetry.logging_handler()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sentio-demo-plant")
        self.stop_event: asyncio.Event | None = None
        self.done: asyncio.Future[None] | None = None
        self.stoppers: list[Callable[[], Awaitable[None]]] = []

    def start(self) -> SentioConfig:
        """Start the plant; return the config it runs with."""
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.setLevel(logging.INFO)
            logger.propagate = False  # to VictoriaLogs, not to the console
            logger.addHandler(self.handler)
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)

    async def _start(self) -> SentioConfig:
        self.stop_event = asyncio.Event()
        servers = contextlib.AsyncExitStack()
        try:
            pumps = PumpServer(self.fleet.pumps, advance_every_s=1.0)
            await servers.enter_async_context(pumps)
            assert self.fleet.line is not None
            line = LineServer(self.fleet.line, advance_every_s=1.0)
            await servers.enter_async_context(line)
            self.progress(f"simulated line on {line.endpoint}")
            mqtt_port = await self._zigbee(servers)
        except BaseException:
            await servers.aclose()
            raise
        config = plant_config(self.base, pumps.port, line, mqtt_port)
        self.done = asyncio.ensure_future(self._run(servers, config))
        return config

    async def _zigbee(self, servers: contextlib.AsyncExitStack) -> int | None:
        """Start Mosquitto and the Zigbee sensors' publisher; return the broker's port."""
        if not self.fleet.sensors:
            self.progress("Zigbee sensors left out: mosquitto is not installed")
            return None
        assert self.mosquitto is not None
        broker = Mosquitto(self.mosquitto, Path(self.base.stack.data_dir) / "demo-mosquitto")
        try:
            await broker.start()
        except MosquittoError as exc:
            self.progress(f"Zigbee sensors left out: {exc}")
            self.fleet.sensors = {}
            return None
        servers.push_async_callback(broker.stop)
        publisher = ZigbeePublisher(
            self.fleet.sensors.values(), port=broker.port, advance_every_s=1.0
        )
        await servers.enter_async_context(publisher)
        self.progress(f"simulated Zigbee sensors on mosquitto 127.0.0.1:{broker.port}")
        return broker.port

    async def _run(self, servers: contextlib.AsyncExitStack, config: SentioConfig) -> None:
        assert self.stop_event is not None
        async with servers, aiohttp.ClientSession() as session:
            collector = Collector(config, self.telemetry)
            scheduler = Scheduler(config, self.telemetry, session)
            scheduler.restore()
            tasks = [
                asyncio.create_task(collector.run(), name="collector"),
                asyncio.create_task(
                    scheduler.run_forever(self.stop_event, lambda _m: None), name="ai scheduler"
                ),
                asyncio.create_task(self._inject(), name="fault injection"),
            ]
            await self.stop_event.wait()
            collector.stopping.set()
            tasks[2].cancel()
            _done, late = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in late:  # what did not stop in time is named, with where it waits
                self.progress(f"{task.get_name()} did not stop within {STOP_GRACE_S:.0f}s of "
                              f"the stop, cancelling it: {_where(task)}")  # fmt: skip
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _inject(self) -> None:
        try:
            await self.fleet.inject_after(self.faults, self.fault_after_s, self.progress)
        except FaultError as exc:
            self.progress(f"no fault injected: {exc}")

    def run(self, awaitable: Awaitable[T], timeout_s: float = 60.0) -> T:
        """Run ``awaitable`` in the plant's event loop and return its result."""

        async def wait() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout=timeout_s)

    def on_stop(self, stop: Callable[[], Awaitable[None]]) -> None:
        """Run ``stop`` in the plant's loop when the plant stops (before its loop ends)."""
        self.stoppers.append(stop)

    def stop(self) -> None:
        """Stop everything the plant runs and its loop, each step bounded in time."""
        for stopper in reversed(self.stoppers):
            with contextlib.suppress(Exception):
                self.run(stopper(), STOP_GRACE_S)
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        if self.done is not None:
            done = asyncio.run_coroutine_threadsafe(_wait(self.done), self.loop)
            with contextlib.suppress(Exception):
                done.result(timeout=2 * STOP_GRACE_S + 5)
        leftover = asyncio.run_coroutine_threadsafe(_cancel_others(self.progress), self.loop)
        with contextlib.suppress(Exception):
            leftover.result(timeout=STOP_GRACE_S)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=STOP_GRACE_S)
        if self.thread.is_alive():
            self.progress("the plant's event loop did not stop; leaving it to the process exit")
        else:
            self.loop.close()
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)


def _where(task: asyncio.Task[Any]) -> str:
    """Return the innermost frame ``task`` waits in, as ``file:line in function``."""
    frames = task.get_stack()
    if not frames:
        return "(no frame)"
    frame = frames[-1]
    return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"


async def _cancel_others(progress: Progress) -> None:
    """Cancel every task of this loop still running after the stop, naming each."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        progress(f"task {task.get_name()} outlived the stop, cancelling it: {_where(task)}")
        task.cancel()
    if others:
        await asyncio.wait(others, timeout=STOP_GRACE_S / 2)


async def _wait(future: asyncio.Future[None]) -> None:
    await future
