"""One owner of device health: a device down for 20 polls is logged down once and back once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sentio.collectors.runtime import Collector
from sentio.simulators.pump import Dead, Pump, PumpServer

from sentio.config import SentioConfig
from sentio.telemetry import Telemetry
from tests.conftest import free_port

DEADLINE_S = 30.0
FIELDS = [{"name": "vibration", "table": "input", "address": 0, "type": "float32",
           "unit": "mm/s"}]  # fmt: skip


def _config(tmp_path: Path, port: int) -> SentioConfig:
    return SentioConfig.model_validate(
        {
            "stack": {"data_dir": str(tmp_path)},
            "telemetry": {"metrics": {"endpoint": f"http://127.0.0.1:{free_port()}/v1/metrics"}},
            "collector": {"backoff_initial_s": 0.01, "backoff_max_s": 0.02, "spool_fsync": False},
            "connectors": [
                {
                    "name": "pumps",
                    "type": "modbus",
                    "poll_interval_s": 0.02,
                    "config": {
                        "connection": {"type": "tcp", "host": "127.0.0.1", "port": port,
                                       "timeout_s": 0.3, "retries": 0},
                        "devices": [
                            {"name": "pump-1", "unit_id": 1, "fields": FIELDS},
                            {"name": "pump-2", "unit_id": 2, "fields": FIELDS},
                        ],
                    },
                }
            ],
        }
    )  # fmt: skip


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE_S} s"
        await asyncio.sleep(0.01)


def _of(records: list[logging.LogRecord], device: str) -> list[logging.LogRecord]:
    return [r for r in records if getattr(r, "device", None) == device or device in r.getMessage()]


@pytest.mark.parametrize("outage", ["dead device", "server gone"])
async def test_twenty_failed_polls_log_one_down_and_one_recovered(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, outage: str
) -> None:
    caplog.set_level(logging.DEBUG)
    pumps = {1: Pump(seed=1, noise=False), 2: Pump(seed=2, noise=False)}
    server = PumpServer(pumps)
    await server.start()
    telemetry = Telemetry(Resource.create({}), MeterProvider(), TracerProvider(), LoggerProvider())
    collector = Collector(_config(tmp_path, server.port), telemetry)
    health = collector.instances[0].devices
    run = asyncio.create_task(collector.run())
    try:
        await _until(lambda: "pump-1" in health and health["pump-1"].up, "pump-1 up")
        if outage == "dead device":
            pumps[1].inject(Dead())
        else:
            await server.stop()
        await _until(lambda: health["pump-1"].failures >= 20, "20 failed polls of pump-1")
        if outage == "dead device":
            pumps[1].clear_faults()
        else:
            server = PumpServer(pumps, port=server.port)
            await server.start()
        await _until(lambda: health["pump-1"].up, "pump-1 back")
    finally:
        collector.stopping.set()
        await asyncio.gather(run, return_exceptions=True)
        await server.stop()
    records = _of(caplog.records, "pump-1")
    assert [(r.levelno, r.getMessage().split(":")[0]) for r in records] == [
        (logging.ERROR, "device pump-1 is down"),
        (logging.INFO, "device pump-1 recovered"),
    ], [r.getMessage() for r in records]
    if outage == "dead device":
        assert health["pump-2"].up and not _of(caplog.records, "pump-2"), "pump-2 kept reading"
