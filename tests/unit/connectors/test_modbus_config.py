from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sentio.connectors.modbus import ModbusConfig, ModbusConnector
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
