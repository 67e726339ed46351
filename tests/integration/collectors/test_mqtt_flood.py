"""A flood of 100,000 new MQTT topics on a real Mosquitto: capped, counted, known devices flow."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sentio.collectors.limits import WARN_BURST
from sentio.collectors.runtime import Collector

from sentio.config import SentioConfig
from sentio.telemetry import Telemetry
from tests.conftest import free_port
from tests.integration.connectors.conftest import Mosquitto, broker, mosquitto

__all__ = ["broker", "mosquitto"]
FLOOD = 100_000
MAX_DEVICES = 50
MAX_METRICS = 5
QUEUED = 2_000
DEADLINE_S = 60.0


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
                    "max_devices": MAX_DEVICES,
                    "max_metrics_per_device": MAX_METRICS,
                    "config": {
                        "broker": {"host": broker.host, "port": broker.port,
                                   "max_queued_messages": QUEUED},
                        "subscriptions": [{"topic": f"{prefix}/{{device}}/{{metric}}"}],
                    },
                }
            ],
        }
    )  # fmt: skip


def _flood(broker: Mosquitto, prefix: str) -> None:
    """Publish one reading on each of FLOOD new topics, QoS 0, as fast as paho writes."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"flood-{prefix}")
    client.connect(broker.host, broker.port)
    client.loop_start()
    try:
        info = None
        for i in range(FLOOD):
            info = client.publish(f"{prefix}/flood-{i}/m{i % 7}", b"1.5", qos=0)
        assert info is not None
        info.wait_for_publish(timeout=DEADLINE_S)
    finally:
        client.disconnect()
        client.loop_stop()


async def _steady(broker: Mosquitto, prefix: str, stop: asyncio.Event, sent: list[int]) -> None:
    """Publish the known device's reading every 50 ms until ``stop``; count them in ``sent``."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        while not stop.is_set():
            await client.publish(f"{prefix}/known/temperature", b"21.5", qos=0)
            sent[0] += 1
            await asyncio.sleep(0.05)


async def _until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {DEADLINE_S} s"
        await asyncio.sleep(0.05)


@pytest.mark.timeout(180)
async def test_a_flood_of_new_topics_is_capped_and_counted_while_the_known_device_flows(
    tmp_path: Path, broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    prefix = f"flood-{uuid.uuid4().hex[:8]}"
    telemetry = Telemetry(Resource.create({}), MeterProvider(), TracerProvider(), LoggerProvider())
    collector = Collector(_config(tmp_path, broker, prefix), telemetry)
    inst = collector.instances[0]
    limits, got = inst.limits, collector.accepted_by_device
    run = asyncio.create_task(collector.run())
    stop = asyncio.Event()
    sent = [0]
    steady = asyncio.create_task(_steady(broker, prefix, stop, sent))
    try:
        await _until(lambda: got["known"] >= 5, "the known device before the flood")
        flood = threading.Thread(target=_flood, args=(broker, prefix), daemon=True)
        before = got["known"]
        flood_deadline = time.monotonic() + DEADLINE_S
        flood.start()
        during = []  # known readings counted while flood names were still being refused
        while flood.is_alive() or not during:
            refused = limits.refused
            known = got["known"]
            await asyncio.sleep(0.1)
            if limits.refused > refused and got["known"] > known:
                during.append(got["known"] - known)
            assert time.monotonic() < flood_deadline, "the flood did not end in time"
            if not flood.is_alive() and limits.refused == refused:
                break  # the flood is over and no name came in the last 0.1 s
        await asyncio.to_thread(flood.join, DEADLINE_S)
        assert not flood.is_alive(), "the flood publisher did not finish"
        assert during, "the known device's readings stopped while the flood was refused"
        settled = -1
        while settled != limits.refused + inst.connector.dropped():  # the flood drained
            settled = limits.refused + inst.connector.dropped()
            await asyncio.sleep(0.5)
            assert time.monotonic() < flood_deadline + DEADLINE_S, "the flood never drained"
        after = got["known"]
        await _until(lambda: got["known"] >= after + 20, "the known device after the flood")
    finally:
        stop.set()
        await asyncio.gather(steady, return_exceptions=True)
        collector.stopping.set()
        await asyncio.gather(run, return_exceptions=True)
    assert got["known"] > before + len(during)
    # each flood topic is a new device published once: one refused name, one dropped reading
    tracked_flood = len(limits.metrics) - 1
    assert limits.refused > 0 and limits.refused == limits.dropped
    assert limits.refused > FLOOD // 100, "the flood reached the collector past the cap"
    # every message either became a reading, a refused name, or a drop at the full queue
    # (Mosquitto may drop QoS 0 messages to a slow reader too, so at most)
    counted = limits.refused + tracked_flood + inst.connector.dropped() + got["known"]
    assert counted <= FLOOD + sent[0]
    # the state kept for the entry is bounded by the caps, whatever arrived
    assert (
        len(limits.metrics) <= MAX_DEVICES and limits.tracked_metrics <= MAX_DEVICES * MAX_METRICS
    )
    assert len(inst.devices) <= MAX_DEVICES + 1  # and the entry's own connection state
    assert len(got) <= MAX_DEVICES
    assert len(inst.attributes.by_content) <= MAX_DEVICES
    # one WARN per new name refused (up to the burst), never one per message
    refusals = [r for r in caplog.records if "refused new device" in r.getMessage()]
    assert len(refusals) == min(limits.refused, WARN_BURST)
    assert len({r.getMessage() for r in refusals}) == len(refusals)
    assert not [r for r in caplog.records if "Message queue is full" in r.getMessage()]
    # the broker connection held through the flood: the entry was never marked down
    assert "plant" not in inst.devices
    assert not [r for r in caplog.records if "device plant is down" in r.getMessage()]
