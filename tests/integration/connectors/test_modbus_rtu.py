"""The Modbus connector over RTU: through a TCP gateway, and on a serial bus (pseudo-terminals)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sentio.connectors.contract import Event, Reading, ReadingBatch, Sample, Severity
from sentio.connectors.modbus import ModbusConfig, ModbusConnectionError, ModbusConnector

from .modbus_servers import SimBus, coils, holding, inputs, rtu_tcp_server, serial_server

pytestmark = pytest.mark.timeout(60)

FIELDS: list[dict[str, Any]] = [
    {"name": "running", "table": "coil", "address": 0, "type": "bool"},
    {"name": "local", "table": "coil", "address": 1, "type": "bool"},
    {"name": "alarm", "table": "discrete_input", "address": 2, "type": "bool"},
    {"name": "setpoint", "table": "holding", "address": 0},
    {"name": "limit", "table": "holding", "address": 9},
    {"name": "total", "table": "input", "address": 4, "type": "uint32"},
]
NOWHERE: dict[str, Any] = {"name": "nowhere", "table": "holding", "address": 50}
DEADLINE_S = 10.0


def expected(unit: int) -> dict[str, float | bool]:
    """Return what FIELDS read from ``unit``."""
    bits, words = coils(unit), inputs(unit)
    return {
        "running": bits[0],
        "local": bits[1],
        "alarm": bits[2],
        "setpoint": float(holding(unit)[0]),
        "limit": float(holding(unit)[9]),
        "total": float(words[4] << 16 | words[5]),
    }


def device(unit: int, **extra: Any) -> dict[str, Any]:
    return {"name": f"unit-{unit}", "unit_id": unit, "fields": FIELDS, **extra}


def make_config(connection: dict[str, Any], devices: list[dict[str, Any]]) -> ModbusConfig:
    return ModbusConfig.model_validate(
        {"connection": {"timeout_s": 0.5, "retries": 0, **connection}, "devices": devices}
    )


def serial(port: str | Path, **extra: Any) -> dict[str, Any]:
    return {"type": "serial", "port": str(port), "parity": "N", **extra}


async def collect(connector: ModbusConnector, name: str | None = None) -> list[Sample]:
    """Return one poll's samples (of one device, or of all), each batch as its readings."""
    samples = connector.read() if name is None else connector.poll(name)
    return [
        r async for s in samples for r in (s.readings() if isinstance(s, ReadingBatch) else [s])
    ]


def values(samples: list[Sample], device: str | None = None) -> dict[str, float | bool | str]:
    return {
        s.metric: s.value for s in samples if isinstance(s, Reading) and device in {None, s.device}
    }


def errors(samples: list[Sample]) -> list[Event]:
    return [s for s in samples if isinstance(s, Event) and s.severity == Severity.ERROR]


async def until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Run ``check`` every 50 ms until it holds; fail after DEADLINE_S."""
    deadline = time.monotonic() + DEADLINE_S
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_rtu_over_tcp_reads_every_device() -> None:
    async with rtu_tcp_server(SimBus((1, 2))) as server:
        connection = {"type": "rtu_over_tcp", "host": "127.0.0.1", "port": server.port}
        connector = ModbusConnector(make_config(connection, [device(1), device(2)]))
        try:
            await connector.connect()
            samples = await collect(connector)
        finally:
            await connector.close()
    assert errors(samples) == []
    assert values(samples, "unit-1") == expected(1)
    assert values(samples, "unit-2") == expected(2)


async def test_rtu_over_tcp_instances_on_one_gateway_share_its_connection() -> None:
    async with rtu_tcp_server(SimBus((1, 2))) as server:
        connection = {"type": "rtu_over_tcp", "host": "127.0.0.1", "port": server.port}
        first = ModbusConnector(make_config(connection, [device(1)]))
        second = ModbusConnector(make_config(connection, [device(2)]))
        try:
            for _ in range(3):
                one, two = await asyncio.gather(collect(first, "unit-1"), collect(second, "unit-2"))
                assert (values(one), values(two)) == (expected(1), expected(2))
                assert server.connections == 1
            await first.close()
            assert values(await collect(second, "unit-2")) == expected(2)
        finally:
            await first.close()
            await second.close()

        async def dropped() -> bool:
            return server.connections == 0

        await until(dropped, "the gateway connection to close")


async def test_rtu_over_tcp_devices_reconnect_after_a_gateway_restart() -> None:
    async with rtu_tcp_server(SimBus((1, 2))) as server:
        connection = {"type": "rtu_over_tcp", "host": "127.0.0.1", "port": server.port}
        connector = ModbusConnector(make_config(connection, [device(1), device(2)]))

        async def run(name: str) -> list[Sample]:
            """Do what the runtime's task for one device does: connect, then poll."""
            try:
                await connector.connect()
            except ModbusConnectionError:
                return []
            return await collect(connector, name)

        async def both_read() -> bool:
            one, two = await asyncio.gather(run("unit-1"), run("unit-2"))
            return values(one) == expected(1) and values(two) == expected(2)

        try:
            assert await both_read()
            await server.stop()
            down = await asyncio.gather(collect(connector, "unit-1"), collect(connector, "unit-2"))
            assert [len(errors(samples)) for samples in down] == [1, 1]
            kinds = {e.attributes["error"] for samples in down for e in errors(samples)}
            assert kinds <= {"connection", "timeout"}
            assert values(down[0]) == values(down[1]) == {}
            await server.start()
            await until(both_read, "both devices to read again")
        finally:
            await connector.close()


async def test_serial_devices_polled_concurrently_read_correctly() -> None:
    bus = SimBus((1, 2))
    async with serial_server(bus) as port:
        devices = [device(1, one_request_per_field=True), device(2, one_request_per_field=True)]
        connector = ModbusConnector(make_config(serial(port), devices))
        try:
            await asyncio.gather(connector.connect(), connector.connect())
            for _ in range(5):
                one, two = await asyncio.gather(
                    collect(connector, "unit-1"), collect(connector, "unit-2")
                )
                assert errors(one) + errors(two) == []
                assert (values(one), values(two)) == (expected(1), expected(2))
        finally:
            await connector.close()
    assert len(bus.requests) == 5 * 2 * len(FIELDS)


async def test_serial_instances_on_one_port_share_the_bus(tmp_path: Path) -> None:
    async with serial_server(SimBus((1, 2))) as port:
        alias = tmp_path / "ttyRS485"
        alias.symlink_to(port)
        first = ModbusConnector(make_config(serial(port), [device(1)]))
        second = ModbusConnector(make_config(serial(alias), [device(2)]))
        try:
            await asyncio.gather(first.connect(), second.connect())
            for _ in range(3):
                one, two = await asyncio.gather(collect(first, "unit-1"), collect(second, "unit-2"))
                assert (values(one), values(two)) == (expected(1), expected(2))
        finally:
            await first.close()
            await second.close()


async def test_serial_pause_keeps_the_whole_bus_quiet_after_a_request() -> None:
    pause_s = 0.05
    bus = SimBus((1, 2))
    async with serial_server(bus) as port:
        devices = [
            device(1, one_request_per_field=True, pause_between_requests_s=pause_s),
            device(2, one_request_per_field=True),
        ]
        connector = ModbusConnector(make_config(serial(port), devices))
        try:
            one, two = await asyncio.gather(
                collect(connector, "unit-1"), collect(connector, "unit-2")
            )
        finally:
            await connector.close()
    assert (values(one), values(two)) == (expected(1), expected(2))
    after_slow = [
        later - earlier
        for (earlier, unit), (later, _) in zip(bus.requests, bus.requests[1:], strict=False)
        if unit == 1
    ]
    assert len(after_slow) >= len(FIELDS) - 1
    assert min(after_slow) >= pause_s - 0.005
    assert {unit for _, unit in bus.requests} == {1, 2}


async def test_serial_exception_and_silent_devices_fail_while_another_keeps_reading() -> None:
    bus = SimBus((1, 2, 3), silent={3})
    async with serial_server(bus) as port:
        devices = [device(1), {**device(2), "fields": [*FIELDS, NOWHERE]}, device(3)]
        connector = ModbusConnector(make_config(serial(port, timeout_s=0.3), devices))
        try:
            for _ in range(2):
                good, broken, silent = await asyncio.gather(
                    *(collect(connector, f"unit-{u}") for u in (1, 2, 3))
                )
                assert errors(good) == []
                assert values(good) == expected(1)
                (refused,) = errors(broken)
                assert refused.attributes["exception_code"] == 2
                assert "ILLEGAL_ADDRESS" in refused.body
                assert values(broken) == expected(2)
                (timeout,) = errors(silent)
                assert timeout.attributes["error"] == "timeout"
                assert values(silent) == {}
            bus.silent.clear()
            back = await collect(connector, "unit-3")
            assert values(back) == expected(3)
            assert [s for s in back if isinstance(s, Event)] == [], "the runtime owns recovery"
        finally:
            await connector.close()


async def test_serial_close_after_poll_never_cuts_another_devices_request() -> None:
    async with serial_server(SimBus((1, 2))) as port:
        devices = [
            device(1, one_request_per_field=True, close_after_poll=True),
            device(2, one_request_per_field=True),
        ]
        connector = ModbusConnector(make_config(serial(port), devices))
        try:
            for _ in range(5):
                one, two = await asyncio.gather(
                    collect(connector, "unit-1"), collect(connector, "unit-2")
                )
                assert errors(one) + errors(two) == []
                assert (values(one), values(two)) == (expected(1), expected(2))
            assert values(await collect(connector, "unit-1")) == expected(1)
            assert not connector.connected
        finally:
            await connector.close()


async def test_missing_serial_port_gives_a_connection_error(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB9"
    connector = ModbusConnector(make_config(serial(port), [device(1)]))
    try:
        with pytest.raises(ModbusConnectionError, match=f"cannot connect to {port}"):
            await connector.connect()
        (event,) = errors(await collect(connector, "unit-1"))
        assert event.attributes["error"] == "connection"
    finally:
        await connector.close()
