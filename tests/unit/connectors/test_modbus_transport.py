from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import TypeAdapter
from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.framer import FramerRTU, FramerSocket
from sentio.connectors.modbus import ModbusConnectionError
from sentio.connectors.modbus.config import Connection
from sentio.connectors.modbus.transport import attach, build_client, bus_key, detach

CONNECTION: TypeAdapter[Connection] = TypeAdapter(Connection)


def connection(**data: Any) -> Connection:
    return CONNECTION.validate_python(data)


def serial(port: str | Path, **extra: Any) -> Connection:
    return connection(type="serial", port=str(port), **extra)


def test_serial_buses_are_keyed_by_the_resolved_port(tmp_path: Path) -> None:
    device = tmp_path / "ttyUSB0"
    device.touch()
    alias = tmp_path / "by-id-usb-FTDI"
    alias.symlink_to(device)
    assert bus_key(serial(alias)) == bus_key(serial(device)) == f"serial:{device}"
    assert bus_key(serial("rfc2217://gw:4001")) == "serial:rfc2217://gw:4001"
    assert bus_key(serial("COM3")) == "serial:COM3"


def test_rtu_gateways_are_keyed_by_host_and_port_and_tcp_is_not_shared() -> None:
    gateway = connection(type="rtu_over_tcp", host="GW.local", port=4001)
    assert bus_key(gateway) == "rtu_over_tcp:gw.local:4001"
    assert bus_key(connection(host="gw.local", port=4001)) is None


async def test_instances_on_one_bus_share_it_until_the_last_detaches(tmp_path: Path) -> None:
    first = attach(serial(tmp_path / "ttyS0"))
    second = attach(serial(tmp_path / "sub" / ".." / "ttyS0"))
    try:
        assert second is first
        assert first.users == 2
        assert attach(serial(tmp_path / "ttyS1")) is not first
    finally:
        detach(second)
    assert first.users == 1
    detach(first)
    again = attach(serial(tmp_path / "ttyS0"))
    assert again is not first
    detach(again)


async def test_tcp_connections_each_get_their_own_bus() -> None:
    tcp = connection(host="plc", port=502)
    first, second = attach(tcp), attach(tcp)
    assert first is not second
    assert first.lock is not second.lock
    detach(first)
    detach(second)


async def test_a_shared_bus_refuses_other_settings(tmp_path: Path) -> None:
    bus = attach(serial(tmp_path / "ttyS0", baudrate=9600))
    try:
        with pytest.raises(ModbusConnectionError, match="in use with other settings: baudrate"):
            attach(serial(tmp_path / "ttyS0", baudrate=19200))
        gateway = attach(connection(type="rtu_over_tcp", host="gw", timeout_s=1))
        with pytest.raises(ModbusConnectionError, match="retries, timeout_s"):
            attach(connection(type="rtu_over_tcp", host="gw", timeout_s=2, retries=3))
        detach(gateway)
    finally:
        detach(bus)


async def test_clients_use_the_framing_of_their_connection(tmp_path: Path) -> None:
    tcp = build_client(connection(host="127.0.0.1"))
    rtu = build_client(connection(type="rtu_over_tcp", host="127.0.0.1", timeout_s=0.5))
    line = build_client(serial(tmp_path / "ttyS0", baudrate=9600, parity="N", stopbits=2))
    assert isinstance(tcp, AsyncModbusTcpClient)
    assert isinstance(tcp.ctx.framer, FramerSocket)
    assert isinstance(rtu, AsyncModbusTcpClient)
    assert isinstance(rtu.ctx.framer, FramerRTU)
    assert rtu.comm_params.timeout_connect == 0.5
    assert isinstance(line, AsyncModbusSerialClient)
    assert isinstance(line.ctx.framer, FramerRTU)
    params = line.comm_params
    assert (params.host, params.baudrate, params.parity, params.stopbits) == (
        str(tmp_path / "ttyS0"),
        9600,
        "N",
        2,
    )
    assert params.reconnect_delay == 0


def test_register_responses_decode_in_one_call_and_reject_a_short_packet() -> None:
    from pymodbus.exceptions import ModbusIOException
    from pymodbus.pdu.register_message import ReadHoldingRegistersResponse
    from sentio.connectors.modbus.transport import FastHoldingRegisters, FastInputRegisters

    packet = bytes([6, 0x00, 0x01, 0xFF, 0xFE, 0x12, 0x34])
    reference = ReadHoldingRegistersResponse()
    reference.decode(packet)
    for response in (FastHoldingRegisters(), FastInputRegisters()):
        response.decode(packet)
        assert response.registers == reference.registers == [1, 0xFFFE, 0x1234]
        with pytest.raises(ModbusIOException):
            response.decode(bytes([6, 0x00, 0x01]))


def test_register_responses_spell_out_their_registers_only_for_pymodbus_debug_lines(
    caplog: pytest.LogCaptureFixture,
) -> None:
    import logging

    from pymodbus.pdu.register_message import ReadHoldingRegistersResponse
    from sentio.connectors.modbus.transport import FastHoldingRegisters, FastInputRegisters

    registers = list(range(1000, 1100))
    for kind in (FastHoldingRegisters, FastInputRegisters):
        response = kind(registers=registers, dev_id=7)
        assert str(response) == f"{kind.__name__}(dev_id=7, count=100)"
        with caplog.at_level(logging.DEBUG, logger="pymodbus"):
            full = str(response)
        reference = str(ReadHoldingRegistersResponse(registers=registers, dev_id=7))
        assert "1099" in full
        assert full == reference.replace("ReadHoldingRegistersResponse", kind.__name__)
