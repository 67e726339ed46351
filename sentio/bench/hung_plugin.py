"""A plugin whose poll never returns: how long until the collector marks its device down.

An in-process collector polls a connector every second with the default call deadline
(``collector.call_timeout_s`` unset: twice the poll interval, at least 15 s); after a few good
polls one poll never returns. Measured in the collector's own state (``device_up`` as the
runtime holds it, the value its ``sentio_collector_device_up`` gauge reports), from the moment
the hung poll began to the moment the device is down.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from pydantic import BaseModel

from sentio.collectors.instance import Instance
from sentio.collectors.runtime import Collector
from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.connectors.contract import Connector, DeviceSchedule, Reading, Sample
from sentio.errors import SentioError
from sentio.stack.ports import free_ports

DEVICE = "hung-meter"
GOOD_POLLS = 3
DETECT_TIMEOUT_S = 120.0


class HungPluginError(SentioError):
    """Raise when the hung plugin scenario cannot measure."""


class _NoConfig(BaseModel):
    pass


class HangingMeter(Connector[_NoConfig]):
    """Answer ``GOOD_POLLS`` polls, then never return from one."""

    config_model = _NoConfig

    def __init__(self) -> None:
        super().__init__(_NoConfig())
        self.polls = 0
        self.hung_at: float | None = None

    async def connect(self) -> None:
        """Connect to nothing."""

    def devices(self) -> Sequence[DeviceSchedule]:
        """Return the one device, polled on its own as Modbus and OPC-UA devices are."""
        return (DeviceSchedule(DEVICE),)

    async def read(self) -> AsyncIterator[Sample]:
        """Yield what a poll of the device yields."""
        async for sample in self.poll(DEVICE):
            yield sample

    async def poll(self, device: str) -> AsyncIterator[Sample]:
        """Yield one reading, or hang once the good polls are spent."""
        self.polls += 1
        if self.polls > GOOD_POLLS:
            if self.hung_at is None:
                self.hung_at = time.monotonic()
            await asyncio.Event().wait()  # never set: only the collector's deadline ends it
        yield Reading(device, "power", float(self.polls), "W")

    async def close(self) -> None:
        """Close nothing."""


async def hung_plugin(work: Path, *, interval_s: float = 1.0) -> float:
    """Return the seconds from a hung poll's start to its device marked down."""
    from sentio.bench.faults import quiet_telemetry

    [dead] = free_ports(1)  # readings are not what is measured here: nothing listens
    config = SentioConfig.model_validate(
        {
            "stack": {"data_dir": str(work / "stack")},
            "telemetry": {"metrics": {"endpoint": f"http://127.0.0.1:{dead}/v1/metrics"}},
            "collector": {"spool_dir": str(work / "spool"), "spool_fsync": False},
        }
    )
    collector = Collector(config, quiet_telemetry("sentio-bench-hung-plugin"))
    connector = HangingMeter()
    inst = Instance(
        ConnectorInstanceConfig(name="hung", type="hanging", poll_interval_s=interval_s),
        connector,
    )
    collector.instances.append(inst)
    run = asyncio.create_task(collector.run())
    try:
        deadline = time.monotonic() + DETECT_TIMEOUT_S
        while True:
            health = inst.devices.get(DEVICE)
            if connector.hung_at is not None and health is not None and not health.up:
                return round(time.monotonic() - connector.hung_at, 2)
            if run.done():
                run.result()
                raise HungPluginError("the collector stopped before the device went down")
            if time.monotonic() > deadline:
                raise HungPluginError(f"{DEVICE} was not marked down in {DETECT_TIMEOUT_S:g} s")
            await asyncio.sleep(0.05)
    finally:
        collector.stopping.set()
        await asyncio.gather(run, return_exceptions=True)
