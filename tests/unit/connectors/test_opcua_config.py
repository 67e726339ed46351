from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from asyncua import ua
from pydantic import ValidationError
from sentio.connectors.contract import Quality
from sentio.connectors.opcua import (
    BrowseConfig,
    DeadbandConfig,
    NodeIdSpec,
    OpcuaConfig,
    OpcuaConnector,
    OpcuaNamespaceError,
    SecurityConfig,
    SubscriptionConfig,
    parse_browse_path,
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
    assert config.security.policy == "Basic256Sha256"
    assert config.security.message_mode == "SignAndEncrypt"
    assert config.security.cert_dir == Path("~/.local/share/sentio/opcua").expanduser()
    assert config.password is not None
    assert config.password.get_secret_value() == "change-me"
    assert [d.name for d in config.devices] == ["boiler-1", "meter-1", "pump-1", "line-1"]
    assert config.devices[0].nodes[0].spec == NodeIdSpec(
        "Boiler1.Temperature", namespace_uri="urn:sentio:boiler"
    )
    assert config.devices[2].nodes[0].spec == parse_browse_path(
        "Objects/plant:Line1/plant:Pump1/plant:Speed"
    )
    browse = config.devices[3].browse
    assert browse is not None
    assert browse.matches("Pump2/OutletTemperature")
    assert not browse.matches("Pump2/Setpoint/Temperature")
    assert config.mode == "poll"
    assert OpcuaConnector.config_model is OpcuaConfig
    connector = OpcuaConnector(config)
    assert connector.push is False
    assert [(d.name, d.interval_s) for d in connector.devices()] == [
        ("boiler-1", 10.0),
        ("meter-1", 30.0),
        ("pump-1", 5.0),
        ("line-1", 10.0),
    ]


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


def minimal(**extra: Any) -> dict[str, Any]:
    device = {"name": "d", "nodes": [{"name": "t", "node_id": "ns=2;i=1"}]}
    return {"endpoint": "opc.tcp://127.0.0.1:4840", "devices": [device], **extra}


def test_security_defaults_and_shorthand() -> None:
    assert OpcuaConfig.model_validate(minimal()).security == SecurityConfig()
    assert OpcuaConfig.model_validate(minimal(security="none")).security.policy == "None"
    assert OpcuaConfig.model_validate(minimal(security="None")).security.message_mode == "None"
    secure = OpcuaConfig.model_validate(minimal(security={"policy": "Basic256Sha256"})).security
    assert secure.message_mode == "SignAndEncrypt"
    assert secure.cert_dir == Path.home() / ".local/share/sentio/opcua"
    sign = SecurityConfig(policy="Basic256Sha256", mode="Sign", cert_dir=Path("~/x"))
    assert sign.message_mode == "Sign"
    assert sign.cert_dir == Path.home() / "x"


@pytest.mark.parametrize(
    ("security", "reason"),
    [
        ({"mode": "Sign"}, "security.mode Sign needs security.policy Basic256Sha256"),
        ({"mode": "SignAndEncrypt"}, "security.mode SignAndEncrypt needs security.policy"),
        ({"policy": "Basic256Sha256", "mode": "None"}, "security.mode None contradicts"),
        ({"policy": "Basic256"}, "policy"),
        ({"policy": "Basic256Sha256", "mode": "Encrypt"}, "mode"),
        ({"certificate": "{cert}", "private_key": "{key}"}, "security.certificate needs"),
        ({"server_certificate": "{cert}"}, "security.server_certificate needs security.policy"),
        (
            {"policy": "Basic256Sha256", "private_key": "{key}"},
            "security.private_key is set but security.certificate is not",
        ),
        (
            {"policy": "Basic256Sha256", "certificate": "{cert}"},
            "security.certificate is set but security.private_key is not",
        ),
        (
            {"policy": "Basic256Sha256", "private_key_password": "x"},
            "security.private_key_password needs security.private_key",
        ),
        (
            {"policy": "Basic256Sha256", "certificate": "{missing}", "private_key": "{key}"},
            "security.certificate: .*missing.der is not a file",
        ),
        ({"policy": "Basic256Sha256", "server_certificate": "{missing}"}, "server_certificate"),
        ({"policy": "Basic256Sha256", "colour": "red"}, "colour"),
        ("basic256sha256", "security 'basic256sha256': give 'none' or a mapping"),
    ],
)
def test_bad_security_is_rejected_naming_the_key(
    tmp_path: Path, security: dict[str, str] | str, reason: str
) -> None:
    files = {
        "cert": tmp_path / "c.der",
        "key": tmp_path / "k.pem",
        "missing": tmp_path / "missing.der",
    }
    files["cert"].write_bytes(b"x")
    files["key"].write_bytes(b"x")
    if isinstance(security, dict):
        security = {k: v.format(**files) for k, v in security.items()}
    with pytest.raises(ValidationError, match=reason):
        OpcuaConfig.model_validate(minimal(security=security))


def test_configured_certificate_files_are_accepted(tmp_path: Path) -> None:
    (tmp_path / "c.der").write_bytes(b"x")
    (tmp_path / "k.pem").write_bytes(b"x")
    security = SecurityConfig.model_validate(
        {
            "policy": "Basic256Sha256",
            "mode": "Sign",
            "certificate": str(tmp_path / "c.der"),
            "private_key": str(tmp_path / "k.pem"),
            "private_key_password": "pw",
            "server_certificate": str(tmp_path / "c.der"),
        }
    )
    assert security.certificate == tmp_path / "c.der"
    assert "pw" not in repr(security)


def test_subscription_settings() -> None:
    config = OpcuaConfig.model_validate(
        minimal(
            mode="subscribe",
            subscription={
                "publishing_interval_s": 0.5,
                "queue_size": 10,
                "deadband": {"type": "percent", "value": 2},
            },
        )
    )
    assert config.subscription == SubscriptionConfig(
        publishing_interval_s=0.5, queue_size=10, deadband=DeadbandConfig(type="percent", value=2)
    )
    own = {"publishing_interval_s": 2, "sampling_interval_s": 0}
    data = minimal(mode="subscribe")
    data["devices"][0]["subscription"] = own
    data["devices"][0]["nodes"][0]["deadband"] = {"type": "absolute", "value": 0.5}
    config = OpcuaConfig.model_validate(data)
    device = config.devices[0]
    assert config.subscription_of(device) == SubscriptionConfig(
        publishing_interval_s=2, sampling_interval_s=0
    )
    assert device.nodes[0].deadband == DeadbandConfig(type="absolute", value=0.5)
    assert OpcuaConnector(config).push is True
    assert OpcuaConnector(config).devices() == ()


def with_device(mode: str, **device: Any) -> dict[str, Any]:
    data = minimal(mode=mode)
    data["devices"][0].update(device)
    return data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (minimal(subscription={"queue_size": 2}), "subscription applies to mode subscribe only"),
        (
            with_device("poll", subscription={"queue_size": 2}),
            r"devices\[0\].subscription applies to mode subscribe only",
        ),
        (
            with_device(
                "poll",
                nodes=[
                    {
                        "name": "t",
                        "node_id": "ns=2;i=1",
                        "deadband": {"type": "absolute", "value": 1},
                    }
                ],
            ),
            r"devices\[0\].nodes\[0\].deadband applies to mode subscribe only",
        ),
        (
            with_device("subscribe", poll_interval_s=5),
            r"devices\[0\].poll_interval_s applies to mode poll only",
        ),
        (minimal(mode="push"), "mode"),
        (
            minimal(mode="subscribe", subscription={"deadband": {"type": "percent", "value": 101}}),
            "percent must be at most 100",
        ),
        (
            minimal(mode="subscribe", subscription={"deadband": {"type": "absolute", "value": 0}}),
            "value",
        ),
        (minimal(mode="subscribe", subscription={"queue_size": 0}), "queue_size"),
        (minimal(mode="subscribe", subscription={"publishing_interval_s": 0}), "publishing"),
    ],
)
def test_bad_subscription_settings_are_rejected(data: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        OpcuaConfig.model_validate(data)


def test_nodes_by_path_and_discovery() -> None:
    data = minimal(namespaces={"plant": "urn:plant"})
    data["devices"][0]["nodes"].append({"name": "speed", "path": "Objects/plant:Pump1/2:Speed"})
    data["devices"].append({"name": "line", "browse": {"root": "nsu=urn:plant;s=Line1"}})
    config = OpcuaConfig.model_validate(data)
    assert config.devices[0].nodes[1].address == "Objects/plant:Pump1/2:Speed"
    browse = config.devices[1].browse
    assert browse is not None
    assert browse.root_spec == NodeIdSpec("Line1", namespace_uri="urn:plant")
    assert (browse.include, browse.exclude, browse.max_depth, browse.max_nodes) == (
        ["*"],
        [],
        5,
        1000,
    )
    assert config.devices[1].nodes == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"nodes": [{"name": "t"}]}, "node t: give exactly one of node_id and path"),
        (
            {"nodes": [{"name": "t", "node_id": "ns=2;i=1", "path": "Objects/2:T"}]},
            "node t: give exactly one of node_id and path",
        ),
        ({"nodes": [{"name": "t", "path": "Objects//T"}]}, "empty name"),
        (
            {"nodes": [{"name": "t", "path": "Objects/plant:T"}]},
            r"devices\[0\].nodes\[0\].path: namespace alias plant is not in namespaces",
        ),
        (
            {"nodes": [], "browse": {"root": "Objects/x:Line"}},
            r"devices\[0\].browse.root: namespace alias x",
        ),
        ({"nodes": [], "browse": {"root": "ns=2;q=1"}}, "node id"),
        ({"nodes": []}, "device d: give nodes, browse, or both"),
        ({"nodes": [], "browse": {"include": []}}, "include"),
        ({"nodes": [], "browse": {"max_depth": 0}}, "max_depth"),
        ({"nodes": [], "browse": {"max_nodes": 0}}, "max_nodes"),
    ],
)
def test_bad_nodes_and_browse_are_rejected(change: dict[str, Any], reason: str) -> None:
    data = minimal()
    data["devices"][0].update(change)
    with pytest.raises(ValidationError, match=reason):
        OpcuaConfig.model_validate(data)


@pytest.mark.parametrize(
    ("namespaces", "reason"),
    [({"2x": "urn:a"}, "alias '2x' is not a name"), ({"a": ""}, "alias 'a' has an empty URI")],
)
def test_bad_namespace_aliases_are_rejected(namespaces: dict[str, str], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        OpcuaConfig.model_validate(minimal(namespaces=namespaces))


def test_browse_globs() -> None:
    browse = BrowseConfig(include=["*Temperature*", "Pump1/Speed"], exclude=["Pump2/*"])
    assert browse.matches("Pump1/Temperature")
    assert browse.matches("Pump3/Motor/WindingTemperature")
    assert browse.matches("Pump1/Speed")
    assert not browse.matches("Pump1/speed")
    assert not browse.matches("Pump2/Temperature")
    assert not browse.matches("Pump1/Flow")
