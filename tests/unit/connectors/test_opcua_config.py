from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from asyncua import ua
from pydantic import ValidationError
from sentio.connectors.contract import Quality
from sentio.connectors.opcua import (
    NodeIdSpec,
    OpcuaConfig,
    OpcuaConnector,
    OpcuaNamespaceError,
    parse_node_id,
    quality_of,
    resolve_node_id,
)


def load_sample() -> dict[str, Any]:
    text = resources.files("sentio.connectors.opcua").joinpath("sample.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_sample_yaml_validates() -> None:
    config = OpcuaConfig.model_validate(load_sample())
    assert config.endpoint == "opc.tcp://127.0.0.1:4840/sentio/"
    assert config.security == "none"
    assert config.password is not None
    assert config.password.get_secret_value() == "change-me"
    assert [d.name for d in config.devices] == ["boiler-1", "meter-1"]
    assert config.devices[0].nodes[0].spec == NodeIdSpec(
        "Boiler1.Temperature", namespace_uri="urn:sentio:boiler"
    )
    assert OpcuaConnector.config_model is OpcuaConfig
    assert OpcuaConnector.push is False


def test_password_is_never_shown() -> None:
    config = OpcuaConfig.model_validate(load_sample())
    assert "change-me" not in repr(config)
    assert "change-me" not in str(config.model_dump())


@pytest.mark.parametrize(
    ("text", "spec"),
    [
        ("ns=2;i=1001", NodeIdSpec(1001, namespace_index=2)),
        ("ns=0;i=2258", NodeIdSpec(2258, namespace_index=0)),
        ("ns=3;s=Boiler1.Temperature", NodeIdSpec("Boiler1.Temperature", namespace_index=3)),
        ("ns=1;s=a;b=c", NodeIdSpec("a;b=c", namespace_index=1)),
        ("nsu=urn:sentio:boiler;s=T1", NodeIdSpec("T1", namespace_uri="urn:sentio:boiler")),
        ("nsu=http://x.org/UA/;i=7", NodeIdSpec(7, namespace_uri="http://x.org/UA/")),
        ("ns=2;s=1", NodeIdSpec("1", namespace_index=2)),
    ],
)
def test_node_id_parsing(text: str, spec: NodeIdSpec) -> None:
    assert parse_node_id(text) == spec
    assert type(parse_node_id(text).identifier) is type(spec.identifier)


@pytest.mark.parametrize(
    "text",
    [
        "i=1001",
        "s=Temp",
        "ns=2",
        "ns=2;i=",
        "ns=2;i=abc",
        "ns=2;s=",
        "ns=x;i=1",
        "nsu=;s=a",
        "ns=2;g=09087e75-8e5e-499b-954f-f2a9603db28a",
        "ns=2;b=M/RbKBsRVkePCePcx24oRA==",
        " ns=2;i=1",
        "ns=2;i=1 ",
        "ns=65536;i=1",
        "ns=1;i=4294967296",
        "ns=2;i=1;s=x",
    ],
)
def test_bad_node_ids_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="node id"):
        parse_node_id(text)


def test_resolve_node_id() -> None:
    namespaces = ["http://opcfoundation.org/UA/", "urn:server", "urn:sentio:boiler"]
    assert resolve_node_id(parse_node_id("nsu=urn:sentio:boiler;s=T1"), namespaces) == ua.NodeId(
        "T1", 2, ua.NodeIdType.String
    )
    assert resolve_node_id(parse_node_id("ns=5;i=9"), namespaces) == ua.NodeId(
        9, 5, ua.NodeIdType.Numeric
    )
    with pytest.raises(OpcuaNamespaceError, match="urn:missing"):
        resolve_node_id(parse_node_id("nsu=urn:missing;i=1"), namespaces)


def test_quality_of() -> None:
    assert quality_of(ua.StatusCode(ua.StatusCodes.Good)) is Quality.GOOD
    assert quality_of(ua.StatusCode(ua.StatusCodes.UncertainLastUsableValue)) is Quality.UNCERTAIN
    assert quality_of(ua.StatusCode(ua.StatusCodes.BadNodeIdUnknown)) is Quality.BAD


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"colour": "red"}, "colour"),
        ({"security": "basic256sha256"}, "security"),
        ({"endpoint": "http://127.0.0.1:4840"}, "endpoint"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"username": None}, "username and password must be given together"),
        ({"password": None}, "username and password must be given together"),
    ],
)
def test_bad_configs_are_rejected(change: dict[str, Any], reason: str) -> None:
    data = {**load_sample(), **change}
    with pytest.raises(ValidationError, match=reason):
        OpcuaConfig.model_validate(data)


def test_device_and_node_rules() -> None:
    data = load_sample()
    data["devices"][1]["name"] = "boiler-1"
    with pytest.raises(ValidationError, match="duplicate device names: boiler-1"):
        OpcuaConfig.model_validate(data)
    data = load_sample()
    data["devices"][0]["nodes"].append(data["devices"][0]["nodes"][0])
    with pytest.raises(ValidationError, match="duplicate node names: temperature"):
        OpcuaConfig.model_validate(data)
    data = load_sample()
    data["devices"][0]["nodes"][0]["node_id"] = "Boiler1.Temperature"
    with pytest.raises(ValidationError, match=r"node id 'Boiler1\.Temperature'"):
        OpcuaConfig.model_validate(data)
    data = load_sample()
    data["devices"][0]["nodes"][0]["scale"] = 2
    with pytest.raises(ValidationError, match="scale"):
        OpcuaConfig.model_validate(data)
