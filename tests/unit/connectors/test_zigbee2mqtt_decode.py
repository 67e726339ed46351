from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sentio.connectors.contract import Reading, Sample, Severity
from sentio.connectors.zigbee2mqtt import (
    DEFAULT_UNITS,
    Zigbee2MqttConfig,
    Zigbee2MqttConnector,
    Zigbee2MqttDecoder,
    device_metadata,
    flatten,
)

NOW = 1_700_000_000_000_000_000
DEVICES = [
    {"friendly_name": "Coordinator", "ieee_address": "0x00", "type": "Coordinator"},
    {
        "friendly_name": "hall/motion",
        "ieee_address": "0x01",
        "power_source": "Battery",
        "model_id": "lumi.sensor_motion",
        "manufacturer": "LUMI",
    },
]


def decoder(**settings: Any) -> Zigbee2MqttDecoder:
    return Zigbee2MqttDecoder(
        Zigbee2MqttConfig.model_validate({"broker": {"host": "h"}, **settings})
    )


def plain(samples: list[Sample]) -> list[tuple[Any, ...]]:
    return [
        ("reading", s.device, s.metric, s.value, s.unit, dict(s.attributes))
        if isinstance(s, Reading)
        else ("event", s.device, s.severity, s.body, dict(s.attributes))
        for s in samples
    ]


def load_sample() -> dict[str, Any]:
    text = resources.files("sentio.connectors.zigbee2mqtt").joinpath("sample.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_sample_yaml_validates() -> None:
    config = Zigbee2MqttConfig.model_validate(load_sample())
    assert config.base_topic == "zigbee2mqtt"
    assert config.include == ["kitchen/*", "living room/*", "outdoor-*"]
    connector = Zigbee2MqttConnector(config)
    assert connector.session.filters == ("zigbee2mqtt/#",)
    assert connector.decoder.unit("voltage") == "V"
    assert connector.decoder.unit("formaldehyd") == "mg/m3"
    assert connector.decoder.unit("temperature") == "Cel"
    assert Zigbee2MqttConnector.config_model is Zigbee2MqttConfig


@pytest.mark.parametrize("base", ["a/+", "a/#", "/a", "a/", ""])
def test_bad_base_topic_is_rejected(base: str) -> None:
    with pytest.raises(ValidationError, match="base_topic"):
        Zigbee2MqttConfig.model_validate({"broker": {"host": "h"}, "base_topic": base})


def test_default_units() -> None:
    d = decoder()
    assert {
        f: d.unit(f)
        for f in [
            "temperature",
            "humidity",
            "pressure",
            "battery",
            "linkquality",
            "voltage",
            "power",
            "energy",
            "illuminance_lux",
            "unknown",
        ]
    } == {
        "temperature": "Cel",
        "humidity": "%",
        "pressure": "hPa",
        "battery": "%",
        "linkquality": "{lqi}",
        "voltage": "mV",
        "power": "W",
        "energy": "kWh",
        "illuminance_lux": "lx",
        "unknown": "",
    }
    assert DEFAULT_UNITS["co2"] == "[ppm]"


def test_state_fields_become_readings_and_events() -> None:
    payload = (
        b'{"temperature": 20.5, "occupancy": true, '
        b'"update": {"state": "idle", "progress": 50}, "color": null, "list": [1]}'
    )
    assert plain(decoder().decode("zigbee2mqtt/hall/motion", payload, NOW)) == [
        ("reading", "hall/motion", "temperature", 20.5, "Cel", {}),
        ("reading", "hall/motion", "occupancy", 1.0, "{bool}", {}),
        (
            "event",
            "hall/motion",
            Severity.INFO,
            "hall/motion: update_state = idle",
            {"field": "update_state", "value": "idle"},
        ),
        ("reading", "hall/motion", "update_progress", 50.0, "", {}),
    ]


def test_metadata_from_bridge_devices_becomes_attributes() -> None:
    d = decoder()
    assert d.decode("zigbee2mqtt/bridge/devices", json.dumps(DEVICES).encode(), NOW) == []
    meta = {
        "ieee_address": "0x01",
        "model": "lumi.sensor_motion",
        "vendor": "LUMI",
        "power_source": "Battery",
    }
    assert plain(d.decode("zigbee2mqtt/hall/motion", b'{"linkquality": 120}', NOW)) == [
        ("reading", "hall/motion", "linkquality", 120.0, "{lqi}", meta)
    ]
    assert device_metadata({"definition": {"model": "M", "vendor": "V"}, "model_id": "x"}) == {
        "model": "M",
        "vendor": "V",
    }


def test_availability_json_and_legacy_with_event_on_change() -> None:
    d = decoder()
    topic = "zigbee2mqtt/a/b/availability"
    assert plain(d.decode(topic, b'{"state":"online"}', NOW)) == [
        ("reading", "a/b", "available", 1.0, "{bool}", {}),
        ("event", "a/b", Severity.INFO, "a/b is online", {"available": True}),
    ]
    assert plain(d.decode(topic, b"online", NOW)) == [
        ("reading", "a/b", "available", 1.0, "{bool}", {})
    ]
    assert plain(d.decode(topic, b"offline", NOW)) == [
        ("reading", "a/b", "available", 0.0, "{bool}", {}),
        ("event", "a/b", Severity.WARN, "a/b is offline", {"available": False}),
    ]
    assert plain(d.decode(topic, b"maybe", NOW)) == [
        ("event", "a/b", Severity.WARN, f"{topic}: unknown availability 'maybe'", {"topic": topic})
    ]


def test_set_get_bridge_and_foreign_topics_are_ignored() -> None:
    d = decoder()
    for topic in [
        "zigbee2mqtt/lamp/set",
        "zigbee2mqtt/lamp/get",
        "zigbee2mqtt/a/b/set/state",
        "zigbee2mqtt/bridge/state",
        "zigbee2mqtt/bridge/info",
        "other/lamp",
        "zigbee2mqtt",
    ]:
        assert d.decode(topic, b'{"state": "ON"}', NOW) == [], topic


def test_include_and_exclude_globs() -> None:
    d = decoder(include=["kitchen/*", "hall"], exclude=["*/test*"])
    assert d.wanted("kitchen/lamp")
    assert d.wanted("hall")
    assert not d.wanted("kitchen/test-lamp")
    assert not d.wanted("garage/lamp")
    assert d.decode("zigbee2mqtt/garage/lamp", b'{"power": 5}', NOW) == []
    assert d.decode("zigbee2mqtt/garage/lamp/availability", b"online", NOW) == []
    assert decoder(exclude=["garage*"]).decode("zigbee2mqtt/hall", b'{"power": 5}', NOW) != []


def test_bridge_event_and_logging() -> None:
    d = decoder(base_topic="z/home")
    event = (
        b'{"type":"device_interview",'
        b'"data":{"friendly_name":"lamp","status":"failed","ieee_address":"0x9"}}'
    )
    assert plain(d.decode("z/home/bridge/event", event, NOW)) == [
        (
            "event",
            "lamp",
            Severity.WARN,
            "bridge event device_interview: friendly_name=lamp, status=failed, ieee_address=0x9",
            {"topic": "z/home/bridge/event", "event": "device_interview"},
        )
    ]
    assert plain(d.decode("z/home/bridge/logging", b'{"level":"error","message":"boom"}', NOW)) == [
        ("event", "bridge", Severity.ERROR, "boom", {"topic": "z/home/bridge/logging"})
    ]
    assert plain(d.decode("z/home/bridge/event", b"[]", NOW)) == [
        (
            "event",
            "bridge",
            Severity.WARN,
            "z/home/bridge/event: expected a JSON event: '[]'",
            {"topic": "z/home/bridge/event"},
        )
    ]


def test_malformed_state_and_devices_warn() -> None:
    d = decoder()
    assert plain(d.decode("zigbee2mqtt/lamp", b"ON", NOW)) == [
        (
            "event",
            "lamp",
            Severity.WARN,
            "zigbee2mqtt/lamp: expected a JSON object: 'ON'",
            {"topic": "zigbee2mqtt/lamp"},
        )
    ]
    assert plain(d.decode("zigbee2mqtt/bridge/devices", b"{}", NOW)) == [
        (
            "event",
            "bridge",
            Severity.WARN,
            "zigbee2mqtt/bridge/devices: expected a JSON list: '{}'",
            {"topic": "zigbee2mqtt/bridge/devices"},
        )
    ]


def test_flatten() -> None:
    assert flatten({"a": 1, "b": {"c": {"d": 2}}, "e": "x"}) == [("a", 1), ("b_c_d", 2), ("e", "x")]
