"""MQTT clients closed after the broker died leave no unretrieved exception (real Mosquitto)."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

from sentio.connectors.mqtt.config import BrokerConfig
from sentio.connectors.mqtt.session import MqttSession
from sentio.simulators.zigbee import ZigbeePublisher, ZigbeeSensor

from tests.integration.connectors.conftest import DEADLINE_S, Mosquitto


async def _until_disconnected(client: Any) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not client._disconnected.done():
        assert time.monotonic() < deadline, "the client never saw the broker go"
        await asyncio.sleep(0.02)


async def test_clients_closed_after_the_broker_died_leave_no_unretrieved_exception(
    broker: Mosquitto,
) -> None:
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        session = MqttSession(BrokerConfig(host=broker.host, port=broker.port), ["t/#"])
        await session.connect()
        publisher = ZigbeePublisher(
            [ZigbeeSensor("climate-1", "climate")], host=broker.host, port=broker.port
        )
        await publisher.start()
        clients = [session._client, publisher._client]
        await asyncio.to_thread(broker.stop)
        for client in clients:
            await _until_disconnected(client)
        await session.close()
        await publisher.stop()
        del session, publisher, clients, client
        gc.collect()
        await asyncio.sleep(0)  # let the loop run the handlers gc.collect() scheduled
    finally:
        loop.set_exception_handler(previous)
    assert [c["message"] for c in reported] == []
