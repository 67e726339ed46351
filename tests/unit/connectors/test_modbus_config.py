from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sentio.connectors.contract import DeviceSchedule
from sentio.connectors.modbus import (
    ModbusConfig,
    ModbusConnector,
    RtuOverTcpConnection,
    SerialConnection,
    TcpConnection,
)
from sentio.connectors.modbus.config import FieldConfig


def load_sample() -> dict[str, Any]:
    text = resources.files("sentio.connectors.modbus").joinpath("sample.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_sample_yaml_validates() -> None:
    config = ModbusConfig.model_validate(load_sample())
    assert config.connection.port == 5020
    assert [d.name for d in config.devices] == ["pump-1", "pump-2"]
    pump1 = config.devices[0]
    assert {f.name: f.unit for f in pump1.fields}["bearing_temperature"] == "Cel"
    assert config.devices[1].one_request_per_field is True


def test_sample_yaml_plans() -> None:
    connector = ModbusConnector(ModbusConfig.model_validate(load_sample()))
    assert [(r.table, r.address, r.count) for r in connector.plan("pump-1")] == [
        ("coil", 0, 1),
        ("discrete_input", 0, 1),
        ("holding", 10, 13),
        ("input", 0, 10),
    ]
    assert len(connector.plan("pump-2")) == 5
    assert ModbusConnector.config_model is ModbusConfig


def test_unknown_keys_are_rejected() -> None:
    data = load_sample()
    data["devices"][0]["fields"][0]["colour"] = "red"
    with pytest.raises(ValidationError, match="colour"):
        ModbusConfig.model_validate(data)


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ({"table": "coil", "type": "uint16"}, "must have type bool"),
        ({"table": "holding", "type": "bool"}, "type bool is for coils"),
        ({"table": "holding", "type": "string"}, "length is required"),
        ({"table": "holding", "type": "uint16", "length": 4}, "length is required"),
        ({"table": "holding", "type": "bit"}, "bit is required"),
        ({"table": "holding", "type": "bit", "bit": 16}, "less than or equal to 15"),
        ({"table": "holding", "type": "string", "length": 2, "scale": 2}, "scale and offset"),
        ({"table": "holding", "type": "float64", "address": 65533}, "past address 65535"),
        ({"table": "register", "type": "uint16"}, "table"),
        ({"table": "holding", "type": "float16"}, "type"),
        ({"table": "holding", "type": "float32", "byte_order": "middle"}, "byte_order"),
    ],
)
def test_bad_fields_are_rejected(field: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        FieldConfig.model_validate({"name": "x", "address": 0, **field})


def test_device_rules() -> None:
    data = load_sample()
    data["devices"][1]["name"] = "pump-1"
    with pytest.raises(ValidationError, match="duplicate device names: pump-1"):
        ModbusConfig.model_validate(data)
    data = load_sample()
    data["devices"][0]["max_registers"] = 126
    with pytest.raises(ValidationError, match="max_registers"):
        ModbusConfig.model_validate(data)
    data = load_sample()
    data["devices"][0]["fields"].append(data["devices"][0]["fields"][0])
    with pytest.raises(ValidationError, match="duplicate field names: vibration"):
        ModbusConfig.model_validate(data)
    data = load_sample()
    data["devices"][0]["max_registers"] = 1
    with pytest.raises(ValidationError, match="wider than max_registers"):
        ModbusConfig.model_validate(data)


def test_field_width() -> None:
    assert FieldConfig(name="s", table="holding", address=0, type="string", length=5).width == 3
    assert FieldConfig(name="d", table="input", address=0, type="float64").width == 4
    assert FieldConfig(name="c", table="coil", address=0, type="bool").width == 1


def with_connection(connection: dict[str, Any], unit_id: int = 1) -> dict[str, Any]:
    data = load_sample()
    data["connection"] = connection
    data["devices"] = data["devices"][:1]
    data["devices"][0]["unit_id"] = unit_id
    return data


def test_connection_type_defaults_to_tcp() -> None:
    config = ModbusConfig.model_validate(with_connection({"host": "plc.local"}, unit_id=0))
    assert isinstance(config.connection, TcpConnection)
    assert (config.connection.type, config.connection.port) == ("tcp", 502)


def test_rtu_over_tcp_connection() -> None:
    connection = {"type": "rtu_over_tcp", "host": "gw.local", "port": 4001, "timeout_s": 0.5}
    config = ModbusConfig.model_validate(with_connection(connection))
    assert isinstance(config.connection, RtuOverTcpConnection)
    assert (config.connection.host, config.connection.port) == ("gw.local", 4001)


def test_serial_connection_defaults_to_the_specifications_line() -> None:
    config = ModbusConfig.model_validate(
        with_connection({"type": "serial", "port": "/dev/ttyUSB0"})
    )
    connection = config.connection
    assert isinstance(connection, SerialConnection)
    assert (connection.baudrate, connection.bytesize, connection.parity, connection.stopbits) == (
        19200,
        8,
        "E",
        1,
    )


@pytest.mark.parametrize(
    ("connection", "location", "reason"),
    [
        ({"type": "modbus_udp", "host": "x"}, "connection", "type must be one of tcp, rtu_over"),
        ({"type": "rtu_over_tcp"}, "connection.rtu_over_tcp.host", "Field required"),
        ({"type": "rtu_over_tcp", "host": "x", "port": 0}, "rtu_over_tcp.port", "greater than"),
        ({"type": "serial"}, "connection.serial.port", "Field required"),
        ({"type": "serial", "port": 502}, "connection.serial.port", "valid string"),
        ({"type": "serial", "port": "/dev/x", "host": "x"}, "serial.host", "Extra inputs"),
        ({"type": "serial", "port": "/dev/x", "baudrate": 0}, "serial.baudrate", "greater than"),
        ({"type": "serial", "port": "/dev/x", "bytesize": 7}, "serial.bytesize", "8 data bits"),
        ({"type": "serial", "port": "/dev/x", "parity": "M"}, "serial.parity", "'N', 'E' or 'O'"),
        ({"type": "serial", "port": "/dev/x", "stopbits": 1.5}, "serial.stopbits", "1 or 2"),
        ({"type": "serial", "port": "/dev/x", "timeout_s": 0}, "serial.timeout_s", "greater"),
        ({"type": "tcp", "port": 502}, "connection.tcp.host", "Field required"),
        ({"type": "tcp", "host": "x", "baudrate": 9600}, "tcp.baudrate", "Extra inputs"),
    ],
)
def test_bad_connections_are_rejected_naming_the_key(
    connection: dict[str, Any], location: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as info:
        ModbusConfig.model_validate(with_connection(connection))
    (error,) = info.value.errors()
    assert ".".join(str(part) for part in error["loc"]).endswith(location)
    assert reason in error["msg"]


@pytest.mark.parametrize("unit_id", [0, 248, 255])
@pytest.mark.parametrize(
    "connection",
    [{"type": "serial", "port": "/dev/ttyUSB0"}, {"type": "rtu_over_tcp", "host": "gw"}],
)
def test_rtu_buses_take_unit_ids_1_to_247(connection: dict[str, Any], unit_id: int) -> None:
    with pytest.raises(ValidationError, match=rf"devices\.0\.unit_id: {unit_id} \(pump-1\)"):
        ModbusConfig.model_validate(with_connection(connection, unit_id=unit_id))
    ModbusConfig.model_validate(with_connection(connection, unit_id=247))


def test_devices_are_scheduled_at_their_own_interval_or_the_instances() -> None:
    data = load_sample()
    del data["devices"][1]["poll_interval_s"]
    connector = ModbusConnector(ModbusConfig.model_validate(data))
    assert list(connector.devices()) == [
        DeviceSchedule("pump-1", 10.0),
        DeviceSchedule("pump-2", None),
    ]


def commented_connections() -> list[dict[str, Any]]:
    """Return the connections sample.yaml shows commented out, uncommented."""
    text = resources.files("sentio.connectors.modbus").joinpath("sample.yaml").read_text()
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line == "# connection:":
            current = [line[2:]]
            blocks.append(current)
        elif current is not None and line.startswith("#   "):
            current.append(line[2:])
        else:
            current = None
    return [yaml.safe_load("\n".join(block))["connection"] for block in blocks]


def test_sample_yaml_commented_connections_validate() -> None:
    connections = commented_connections()
    assert [c["type"] for c in connections] == ["rtu_over_tcp", "serial"]
    for connection in connections:
        data = load_sample()
        data["connection"] = connection
        config = ModbusConfig.model_validate(data)
        assert config.connection.type == connection["type"]


def test_devices_with_equal_fields_share_one_set_of_field_models() -> None:
    from sentio.connectors.modbus import ModbusConnector

    fields = [{"name": "v", "table": "holding", "address": 0, "type": "int16", "scale": 0.1}]
    config = ModbusConfig.model_validate(
        {
            "connection": {"host": "127.0.0.1"},
            "devices": [
                {"name": f"m{i}", "unit_id": i + 1, "fields": [dict(f) for f in fields]}
                for i in range(3)
            ]
            + [{"name": "other", "unit_id": 9, "fields": [{**fields[0], "scale": 1.0}]}],
        }
    )
    first = config.devices[0].fields[0]
    assert all(d.fields[0] is first for d in config.devices[:3])
    assert config.devices[3].fields[0] is not first and config.devices[3].fields[0].scale == 1.0
    connector = ModbusConnector(config)
    assert connector.plan("m0") == connector.plan("m2") != connector.plan("other")


def test_a_bad_field_list_shared_by_devices_is_reported_per_device() -> None:
    bad = [{"name": "v", "table": "holding", "address": 0, "type": "int99"}]
    with pytest.raises(ValidationError) as info:
        ModbusConfig.model_validate(
            {
                "connection": {"host": "127.0.0.1"},
                "devices": [{"name": "a", "unit_id": 1, "fields": bad}],
            }
        )
    assert info.value.errors()[0]["loc"][:3] == ("devices", 0, "fields")
