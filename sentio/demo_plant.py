"""The demo's plant: simulated pumps over Modbus, the collector reading them, the AI engine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

import aiohttp

from sentio.ai_engine.scheduler import Scheduler
from sentio.collectors.runtime import Collector
from sentio.config import AIQueryConfig, ConnectorInstanceConfig, SentioConfig
from sentio.connectors.simulate.faults import Fault
from sentio.connectors.simulate.pump import POINTS, Pump, PumpServer
from sentio.telemetry import Telemetry

Progress = Callable[[str], None]
INSTANCE = "demo-pumps"
LOGGERS = ("sentio.ai", "sentio.collector")
PUMPS = 2


def plant_config(config: SentioConfig, port: int) -> SentioConfig:
    """Return ``config`` plus the demo's Modbus connector and its AI query."""
    fields = [
        {"name": p.metric, "table": "input", "address": p.input_address, "type": "float32",
         "unit": p.unit}
        for p in POINTS
    ]  # fmt: skip
    connector = ConnectorInstanceConfig(
        name=INSTANCE,
        type="modbus",
        poll_interval_s=2,
        config={
            "connection": {"type": "tcp", "host": "127.0.0.1", "port": port},
            "devices": [
                {"name": f"pump-{u}", "unit_id": u, "fields": fields} for u in range(1, PUMPS + 1)
            ],
        },
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
    return config.model_copy(update={"connectors": [*config.connectors, connector], "ai": ai})


class Plant:
    """Run the pumps, the collector and the AI engine in a background event loop."""

    def __init__(
        self,
        config: SentioConfig,
        telemetry: Telemetry,
        faults: list[tuple[int, Fault]],
        fault_after_s: float,
        progress: Progress,
    ) -> None:
        self.pumps = {u: Pump(seed=u, serial=f"PUMP-{u:04d}") for u in range(1, PUMPS + 1)}
        self.base = config
        self.telemetry = telemetry
        self.faults = faults
        self.fault_after_s = fault_after_s
        self.progress = progress
        self.handler = telemetry.logging_handler()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="sentio-demo-plant")
        self.stop_event: asyncio.Event | None = None
        self.done: asyncio.Future[None] | None = None

    def start(self) -> SentioConfig:
        """Start the plant; return the config it runs with."""
        for name in LOGGERS:
            logger = logging.getLogger(name)
            logger.setLevel(logging.INFO)
            logger.propagate = False  # to Loki, not to the console
            logger.addHandler(self.handler)
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=30)

    async def _start(self) -> SentioConfig:
        self.stop_event = asyncio.Event()
        server = PumpServer(self.pumps, advance_every_s=1.0)
        await server.start()
        config = plant_config(self.base, server.port)
        self.done = asyncio.ensure_future(self._run(server, config))
        return config

    async def _run(self, server: PumpServer, config: SentioConfig) -> None:
        assert self.stop_event is not None
        collector = Collector(config, self.telemetry)
        async with aiohttp.ClientSession() as session:
            scheduler = Scheduler(config, self.telemetry, session)
            scheduler.restore()
            tasks = [
                asyncio.create_task(collector.run()),
                asyncio.create_task(scheduler.run_forever(self.stop_event, lambda _m: None)),
                asyncio.create_task(self._inject()),
            ]
            await self.stop_event.wait()
            collector.stopping.set()
            tasks[2].cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await server.stop()

    async def _inject(self) -> None:
        if not self.faults:
            return
        await asyncio.sleep(self.fault_after_s)
        for unit, fault in self.faults:
            self.pumps[unit].inject(fault)
            self.progress(f"injected {fault} into pump-{unit}")

    def stop(self) -> None:
        """Stop everything the plant runs and its loop."""
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        if self.done is not None:
            done = asyncio.run_coroutine_threadsafe(_wait(self.done), self.loop)
            with contextlib.suppress(Exception):
                done.result(timeout=60)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)
        self.loop.close()
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(self.handler)


async def _wait(future: asyncio.Future[None]) -> None:
    await future
