"""`sentio simulate` serving pumps, the line and Zigbee sensors at once, with faults on time."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiomqtt
import pytest
from asyncua import Client
from asyncua.ua.uaerrors import BadNoCommunication
from pymodbus.client import AsyncModbusTcpClient
from sentio.simulators.cli import parse_fault
from sentio.simulators.fleet import build_fleet
from sentio.simulators.line import URI
from sentio.simulators.serve import Broker, Options, serve

from .conftest import Mosquitto

DEADLINE_S = 20.0
SENTIO = [sys.executable, "-m", "sentio.cli"]


async def until(check: Callable[[], bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not check():
        assert loop.time() < deadline, f"{what} not seen within {DEADLINE_S}s"
        await asyncio.sleep(0.05)


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE_S
    while not await check():
        assert loop.time() < deadline, f"{what} not seen within {DEADLINE_S}s"
        await asyncio.sleep(0.05)


async def availability(broker: Mosquitto, topic: str, state: str) -> None:
    """Wait for ``state`` on ``topic``: retained, or published later; fail at the deadline."""
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe(topic, qos=1)
        async with asyncio.timeout(DEADLINE_S):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                if json.loads(message.payload)["state"] == state:
                    return


async def test_serve_runs_every_protocol_and_injects_faults_on_time(broker: Mosquitto) -> None:
    fleet = build_fleet(pumps=1, line=True, zigbee=1)
    base = f"z2m-{uuid.uuid4().hex[:8]}"
    options = Options(
        modbus_port=0,
        opcua_port=0,
        broker=Broker(broker.host, broker.port),
        base_topic=base,
        tick_s=0.1,
        fault_after_s=0.5,
    )
    faults = [
        parse_fault("1=spike:vibration:50"),
        parse_fault("line:oven=dead"),
        parse_fault("zigbee:climate-1=dead"),
    ]
    said: list[str] = []
    stop = asyncio.Event()
    task = asyncio.create_task(serve(fleet, options, faults, said.append, stop))
    try:
        await until(lambda: len(said) == 6, "three servers and three injections")
        assert not fleet.pumps[1].dead
        modbus = re.search(r"Modbus TCP 127\.0\.0\.1:(\d+)", said[0])
        opcua = re.search(r"(opc\.tcp://\S+):", said[1])
        assert modbus and opcua, said
        assert said[2].startswith(f"MQTT {broker.host}:{broker.port}: 1 Zigbee sensor(s)")
        assert said[3:] == [
            "injected Spike(metric='vibration', magnitude=50.0, probability=1.0) into pump-1",
            "injected Dead() into Line1.Oven",
            "injected Dead() into climate-1",
        ]
        modbus_client = AsyncModbusTcpClient("127.0.0.1", port=int(modbus[1]), reconnect_delay=0)
        await modbus_client.connect()
        try:

            async def spiked() -> bool:
                got = await modbus_client.read_input_registers(0, count=2, device_id=1)
                value = modbus_client.convert_from_registers(
                    got.registers, modbus_client.DATATYPE.FLOAT32
                )
                return isinstance(value, float) and value > 40.0

            await eventually(spiked, "pump-1's vibration spike")
        finally:
            modbus_client.close()
        async with Client(opcua[1], timeout=5) as client:
            index = await client.get_namespace_index(URI)
            oven = client.get_node(f"ns={index};s=Line1.Oven.Temperature")

            async def dead() -> bool:
                value = await oven.read_data_value(raise_on_bad_status=False)
                return value.StatusCode is not None and value.StatusCode.is_bad()

            await eventually(dead, "the dead oven")
            with pytest.raises(BadNoCommunication):
                await oven.read_value()
            assert await client.get_node(f"ns={index};s=Line1.Press.State").read_value() == 1
        await availability(broker, f"{base}/climate-1/availability", "offline")
    finally:
        stop.set()
        await asyncio.wait_for(task, DEADLINE_S)


def test_the_command_serves_until_ctrl_c(broker: Mosquitto, tmp_path: Path) -> None:
    out = tmp_path / "simulate.out"
    args = [
        "simulate", "--pumps", "1", "--modbus-port", "0", "--line", "--opcua-port", "0",
        "--zigbee", "2", "--mqtt-url", f"mqtt://{broker.host}:{broker.port}",
        "--base-topic", f"z2m-{uuid.uuid4().hex[:8]}", "--tick-s", "0.2",
        "--fault", "zigbee:contact-2=dead", "--fault", "line:Press=wear:2", "--fault-after", "0.5",
    ]  # fmt: skip
    with out.open("w") as log:
        proc = subprocess.Popen([*SENTIO, *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while "injected BearingWear(rate_per_h=2.0) into Line1.Press" not in out.read_text():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    text = out.read_text()
    assert "OPC-UA opc.tcp://127.0.0.1:" in text and "namespace urn:sentio:simulate:line" in text
    assert "2 Zigbee sensor(s)" in text and "injected Dead() into contact-2" in text
