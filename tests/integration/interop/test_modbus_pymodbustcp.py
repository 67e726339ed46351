"""The Modbus connector against pyModbusTCP, a Modbus TCP server from another library."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sentio.connectors.contract import BOOL, Event, Reading, ReadingBatch, Sample, Severity
from sentio.connectors.modbus import ModbusConfig, ModbusConnector

from .conftest import PyModbusTcp

FIELDS: list[dict[str, Any]] = [
    {"name": "temperature", "table": "input", "address": 0, "type": "float32", "unit": "Cel"},
    {"name": "offset", "table": "input", "address": 2, "type": "int16"},
    {"name": "energy", "table": "input", "address": 3, "type": "uint32", "unit": "W.h"},
    {"name": "big", "table": "input", "address": 5, "type": "int64", "unit": "{count}"},
    {"name": "precise", "table": "input", "address": 9, "type": "float64"},
    {"name": "serial", "table": "holding", "address": 0, "type": "string", "length": 6},
    {"name": "alarm", "table": "holding", "address": 10, "type": "bit", "bit": 5},
    {"name": "running", "table": "coil", "address": 0, "type": "bool"},
    {"name": "stopped", "table": "coil", "address": 1, "type": "bool"},
    {"name": "door", "table": "discrete_input", "address": 1, "type": "bool"},
]


@pytest.fixture
async def connector(pymodbustcp: PyModbusTcp) -> AsyncIterator[ModbusConnector]:
    config = ModbusConfig.model_validate(
        {
            "connection": {"host": "127.0.0.1", "port": pymodbustcp.port, "timeout_s": 1.0},
            "devices": [{"name": "meter", "unit_id": 1, "fields": FIELDS}],
        }
    )
    conn = ModbusConnector(config)
    try:
        yield conn
    finally:
        await conn.close()


async def poll(connector: ModbusConnector) -> list[Sample]:
    samples: list[Sample] = []
    async for sample in connector.read():
        samples.extend(sample.readings() if isinstance(sample, ReadingBatch) else [sample])
    return samples


def readings(samples: list[Sample]) -> dict[str, Reading]:
    return {s.metric: s for s in samples if isinstance(s, Reading)}


async def test_values_units_timestamps_and_strings(connector: ModbusConnector) -> None:
    before = time.time_ns()
    samples = await poll(connector)
    got = readings(samples)
    assert {m: r.value for m, r in got.items()} == {
        "temperature": 21.75,
        "offset": -40,
        "energy": 4_000_000_000,
        "big": float(2**53),  # 2**53 + 1 on the wire: a double has no closer value (README)
        "precise": -1234.5678,
        "alarm": True,
        "running": True,
        "stopped": False,
        "door": True,
    }
    assert got["temperature"].unit == "Cel" and got["energy"].unit == "W.h"
    assert {got[m].unit for m in ("alarm", "running", "stopped", "door")} == {BOOL}
    assert got["offset"].unit == ""
    assert all(before <= r.timestamp_ns <= time.time_ns() for r in got.values())
    [serial] = [s for s in samples if isinstance(s, Event)]
    assert serial.severity is Severity.INFO
    assert serial.attributes["field"] == "serial" and serial.attributes["value"] == "ABCD"
    assert not [s for s in await poll(connector) if isinstance(s, Event)]  # logged on change


async def test_a_restart_is_an_error_then_readings_again(
    pymodbustcp: PyModbusTcp, connector: ModbusConnector
) -> None:
    assert readings(await poll(connector))["temperature"].value == 21.75
    pymodbustcp.stop()
    failed = [s for s in await poll(connector) if isinstance(s, Event)]
    assert failed and all(e.severity is Severity.ERROR and e.device == "meter" for e in failed)
    pymodbustcp.start()
    back = await poll(connector)
    assert not [s for s in back if isinstance(s, Event) and s.severity is Severity.ERROR]
    assert readings(back)["temperature"].value == 21.75
