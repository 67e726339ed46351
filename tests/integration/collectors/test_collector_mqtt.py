"""The collector with the MQTT connector and a real Mosquitto: bad payloads, a lost broker."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sentio.collectors.runtime import Collector

from sentio.config import SentioConfig
from sentio.telemetry import Telemetry
from tests.conftest import free_port
from tests.integration.connectors.conftest import Mosquitto, broker, mosquitto

__all__ = ["broker", "mosquitto"]
DEADLINE_S = 30.0
GARBAGE = [b"", b"{", b"[" * 50_000, b'{"t": "warm"}', b"\xff\xfe", b'{"t": [1]}', b"null"]


def _config(tmp_path: Path, broker: Mosquitto, prefix: str) -> SentioConfig:
    return SentioConfig.model_validate(
        {
            "stack": {"data_dir": str(tmp_path)},
            "telemetry": {"metrics": {"endpoint": f"http://127.0.0.1:{free_port()}/v1/metrics"}},
            "collector": {"backoff_initial_s": 0.05, "backoff_max_s": 0.2, "spool_fsync": False},
            "connectors": [
                {
                    "name": "plant",
                    "type": "mqtt",
                    "config": {
                        "broker": {"host": broker.host, "port": broker.port, "qos": 1},
                        "subscriptions": [
                            {"topic": f"{prefix}/{{device}}", "payload": "json",
                             "fields": [{"path": "t", "metric": "temperature", "unit": "Cel"}]},
                        ],
                    },
                }
            ],
        }
    )  # fmt: skip


async def _publish(broker: Mosquitto, messages: list[tuple[str, bytes]]) -> None:
    async with aiomqtt.Client(broker.host, broker.port) as client:
        for topic, payload in messages:
            await client.publish(topic, payload, qos=1)


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE_S} s"
        await asyncio.sleep(0.02)


async def test_bad_payloads_never_stop_the_others_and_a_lost_broker_is_reconnected(
    tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    telemetry = Telemetry(Resource.create({}), MeterProvider(), TracerProvider(), LoggerProvider())
    collector = Collector(_config(tmp_path, broker, prefix), telemetry)
    inst = collector.instances[0]
    got = collector.accepted_by_device
    run = asyncio.create_task(collector.run())
    try:
        await _until(lambda: inst.connected, "connected")
        good = (f"{prefix}/good", b'{"t": 20.5}')
        mixed = [m for garbage in GARBAGE for m in ((f"{prefix}/bad", garbage), good)]
        await _publish(broker, mixed)
        await _until(lambda: got["good"] == len(GARBAGE), "every good reading")
        assert got["bad"] == 0
        assert "good" in inst.devices and inst.devices["good"].up

        await asyncio.to_thread(broker.stop)
        await _until(lambda: not inst.devices.get("plant", None) or not inst.devices["plant"].up,
                     "the entry marked down")  # fmt: skip
        await asyncio.to_thread(broker.start)
        await _until(lambda: inst.devices["plant"].up, "the entry reconnected")
        await _publish(broker, [(f"{prefix}/good", b'{"t": 21.5}')])
        await _until(lambda: got["good"] == len(GARBAGE) + 1, "a reading after the reconnect")
    finally:
        collector.stopping.set()
        await asyncio.gather(run, return_exceptions=True)
    plant = [r.getMessage() for r in caplog.records if getattr(r, "device", None) == "plant"]
    assert [m.split(":")[0] for m in plant] == ["device plant is down", "device plant recovered"]
    assert "Traceback" not in caplog.text
