"""The Modbus connector against the simulated pump served by a real in-process pymodbus server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pymodbus.client import AsyncModbusTcpClient
from sentio.connectors.contract import Event, Reading, ReadingBatch, Sample, Severity
from sentio.connectors.modbus import ModbusConfig, ModbusConnectionError, ModbusConnector
from sentio.simulators.pump import (
    OVERHEAT_CEL,
    POINTS,
    BearingWear,
    Dead,
    Drift,
    Pump,
    PumpServer,
    Spike,
    Stuck,
)

FLOAT32_REL = 1e-6


def float_fields() -> list[dict[str, Any]]:
    return [
        {
            "name": p.metric,
            "table": "input",
            "address": p.input_address,
            "type": "float32",
            "unit": p.unit,
        }
        for p in POINTS
    ]


def scaled_fields() -> list[dict[str, Any]]:
    return [
        {
            "name": p.metric,
            "table": "holding",
            "address": p.holding_address,
            "type": "int16",
            "scale": p.scale,
            "unit": p.unit,
        }
        for p in POINTS
    ]


EXTRA_FIELDS: list[dict[str, Any]] = [
    {"name": "running", "table": "coil", "address": 0, "type": "bool"},
    {"name": "overheat", "table": "discrete_input", "address": 0, "type": "bool"},
    {"name": "serial", "table": "holding", "address": 10, "type": "string", "length": 10},
    {"name": "run_time", "table": "holding", "address": 20, "type": "uint32", "unit": "s"},
    {"name": "fault_flag", "table": "holding", "address": 22, "type": "bit", "bit": 2},
]


def make_config(port: int, devices: list[dict[str, Any]], timeout_s: float = 1.0) -> ModbusConfig:
    return ModbusConfig.model_validate(
        {
            "connection": {"host": "127.0.0.1", "port": port, "timeout_s": timeout_s, "retries": 0},
            "devices": devices,
        }
    )


async def poll(connector: ModbusConnector) -> list[Sample]:
    """Return one poll's samples, each batch as its readings."""
    return [r async for s in connector.read() for r in flat(s)]


def flat(sample: Sample) -> list[Sample]:
    return list(sample.readings()) if isinstance(sample, ReadingBatch) else [sample]


def readings(samples: list[Sample], device: str) -> dict[str, Reading]:
    return {s.metric: s for s in samples if isinstance(s, Reading) and s.device == device}


def errors(samples: list[Sample]) -> list[Event]:
    return [s for s in samples if isinstance(s, Event) and s.severity == Severity.ERROR]


@pytest.fixture
async def server() -> AsyncIterator[PumpServer]:
    async with PumpServer({1: Pump(seed=1), 2: Pump(seed=2, serial="PUMP-0002")}) as srv:
        yield srv


@pytest.fixture
async def connector(server: PumpServer) -> AsyncIterator[ModbusConnector]:
    config = make_config(
        server.port,
        [
            {"name": "pump-1", "unit_id": 1, "fields": float_fields() + EXTRA_FIELDS, "max_gap": 5},
            {"name": "pump-2", "unit_id": 2, "fields": scaled_fields()},
        ],
    )
    conn = ModbusConnector(config)
    await conn.connect()
    assert conn.connected
    try:
        yield conn
    finally:
        await conn.close()


async def test_readings_match_the_simulator(server: PumpServer, connector: ModbusConnector) -> None:
    server.pumps[1].advance(10.0)
    samples = await poll(connector)
    assert errors(samples) == []
    pump1 = readings(samples, "pump-1")
    pump2 = readings(samples, "pump-2")
    for point in POINTS:
        got = pump1[point.metric]
        assert got.value == pytest.approx(server.pumps[1].values[point.metric], rel=FLOAT32_REL)
        assert got.unit == point.unit
        assert got.attributes == {"unit_id": 1}
        expected = server.pumps[2].holding_value(point) * point.scale
        assert pump2[point.metric].value == pytest.approx(expected, abs=1e-9)
        assert pump2[point.metric].attributes == {"unit_id": 2}
    assert pump1["running"].value is True
    assert pump1["running"].unit == "{bool}"
    assert pump1["overheat"].value is False
    # a string field is no metric: it is logged when it changes
    assert "serial" not in pump1
    [serial] = [s for s in samples if isinstance(s, Event) and s.device == "pump-1"]
    assert serial.severity is Severity.INFO
    assert serial.attributes["value"] == "PUMP-0001"
    assert not [s for s in await poll(connector) if isinstance(s, Event)]
    assert pump1["run_time"].value == 10.0
    assert pump1["run_time"].unit == "s"
    assert pump1["fault_flag"].value is False
    assert pump1["fault_flag"].unit == "{bool}"
    assert len(pump1) == len(POINTS) + len(EXTRA_FIELDS) - 1
    assert len(connector.plan("pump-1")) == 4


async def test_injected_faults_show_in_readings(
    server: PumpServer, connector: ModbusConnector
) -> None:
    pump = server.pumps[1]
    before = pump.values
    pump.inject(Spike("vibration", magnitude=50.0))
    pump.inject(Stuck("pressure"))
    pump.inject(Drift("flow", rate_per_h=10.0))
    pump.advance(3600.0)
    got = readings(await poll(connector), "pump-1")
    assert got["vibration"].value == pytest.approx(pump.values["vibration"], rel=FLOAT32_REL)
    assert got["vibration"].value > before["vibration"] + 40.0
    assert got["pressure"].value == pytest.approx(before["pressure"], rel=FLOAT32_REL)
    assert got["flow"].value == pytest.approx(pump.values["flow"], rel=FLOAT32_REL)
    assert got["flow"].value > 35.0 + 5.0
    assert got["fault_flag"].value is True


async def test_bearing_wear_raises_vibration_and_temperature_until_the_alarm(
    server: PumpServer, connector: ModbusConnector
) -> None:
    pump = server.pumps[1]
    pump.inject(BearingWear(rate_per_h=1.0))
    seen: list[tuple[float, float]] = []
    for _ in range(4):
        pump.advance(3600.0)
        got = readings(await poll(connector), "pump-1")
        seen.append((float(got["vibration"].value), float(got["bearing_temperature"].value)))
    assert [v for v, _ in seen] == sorted(v for v, _ in seen)
    assert [t for _, t in seen] == sorted(t for _, t in seen)
    assert seen[-1][1] > OVERHEAT_CEL
    assert got["overheat"].value is True


async def test_bad_unit_and_bad_address_give_errors_while_others_keep_reading(
    server: PumpServer,
) -> None:
    config = make_config(
        server.port,
        [
            {"name": "ghost", "unit_id": 9, "fields": scaled_fields()},
            {"name": "pump-1", "unit_id": 1, "fields": float_fields()},
            {
                "name": "bad-address",
                "unit_id": 2,
                "fields": [
                    {"name": "nowhere", "table": "holding", "address": 500},
                    {
                        "name": "flow",
                        "table": "input",
                        "address": 8,
                        "type": "float32",
                        "unit": "m3/h",
                    },
                ],
            },
        ],
    )
    conn = ModbusConnector(config)
    try:
        samples = await poll(conn)
    finally:
        await conn.close()
    events = {e.device: e for e in errors(samples)}
    assert set(events) == {"ghost", "bad-address"}
    assert "unit 9" in events["ghost"].body
    assert events["ghost"].attributes["error"] == "exception_response"
    assert "ILLEGAL_ADDRESS" in events["bad-address"].body
    assert events["bad-address"].attributes["exception_code"] == 2
    assert set(readings(samples, "pump-1")) == {p.metric for p in POINTS}
    assert readings(samples, "ghost") == {}
    assert readings(samples, "bad-address")["flow"].value == pytest.approx(
        server.pumps[2].values["flow"], rel=FLOAT32_REL
    )


async def test_dead_device_gives_an_error_then_recovers(
    server: PumpServer, connector: ModbusConnector
) -> None:
    server.pumps[2].inject(Dead())
    samples = await poll(connector)
    (event,) = errors(samples)
    assert event.device == "pump-2"
    assert "GATEWAY_NO_RESPONSE" in event.body
    assert len(readings(samples, "pump-1")) == len(POINTS) + len(EXTRA_FIELDS) - 1
    server.pumps[2].clear_faults()
    samples = await poll(connector)
    assert errors(samples) == []
    assert len(readings(samples, "pump-2")) == len(POINTS)
    assert [s for s in samples if isinstance(s, Event)] == [], "the runtime owns recovery"


async def test_server_restart_gives_errors_then_reconnects(
    server: PumpServer, connector: ModbusConnector
) -> None:
    assert errors(await poll(connector)) == []
    await server.stop()
    down = await poll(connector)
    assert {e.device for e in errors(down)} == {"pump-1", "pump-2"}
    assert [s for s in down if isinstance(s, Reading)] == []
    await server.start()
    deadline = time.monotonic() + 10.0
    while True:
        samples = await poll(connector)
        if not errors(samples) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    assert errors(samples) == []
    assert readings(samples, "pump-1")["vibration"].value == pytest.approx(
        server.pumps[1].values["vibration"], rel=FLOAT32_REL
    )


async def test_workarounds_close_after_poll_and_one_request_per_field(server: PumpServer) -> None:
    config = make_config(
        server.port,
        [
            {
                "name": "pump-2",
                "unit_id": 2,
                "fields": scaled_fields(),
                "one_request_per_field": True,
                "close_after_poll": True,
                "pause_between_requests_s": 0.01,
            },
        ],
    )
    conn = ModbusConnector(config)
    try:
        for _ in range(2):
            got = readings(await poll(conn), "pump-2")
            assert not conn.connected
            assert got["flow"].value == pytest.approx(
                server.pumps[2].holding_value(POINTS[4]) * 0.1, abs=1e-9
            )
        assert len(conn.plan("pump-2")) == len(POINTS)
    finally:
        await conn.close()


async def test_unreachable_server_gives_error_on_connect_and_read() -> None:
    async with PumpServer({1: Pump()}) as srv:
        port = srv.port
    conn = ModbusConnector(
        make_config(port, [{"name": "p", "unit_id": 1, "fields": float_fields()}])
    )
    try:
        with pytest.raises(ModbusConnectionError, match=f"cannot connect to 127.0.0.1:{port}"):
            await conn.connect()
        (event,) = errors(await poll(conn))
        assert event.attributes["error"] == "connection"
    finally:
        await conn.close()


async def test_silent_device_times_out() -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(1024):
            pass
        writer.close()

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    conn = ModbusConnector(
        make_config(port, [{"name": "p", "unit_id": 1, "fields": float_fields()}], timeout_s=0.2)
    )
    try:
        (event,) = errors(await poll(conn))
    finally:
        await conn.close()
        silent.close()
        await silent.wait_closed()
    assert event.attributes["error"] == "timeout"
    assert "no response" in event.body


async def test_writing_the_running_coil_stops_the_pump(server: PumpServer) -> None:
    client = AsyncModbusTcpClient("127.0.0.1", port=server.port, reconnect_delay=0)
    await client.connect()
    try:
        response = await client.write_coil(0, False, device_id=1)
        assert not response.isError()
    finally:
        client.close()
    assert server.pumps[1].running is False
    assert server.pumps[1].advance(1.0)["flow"] == 0.0
