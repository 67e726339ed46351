from __future__ import annotations

import json
from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sentio.connectors.contract import Event, Reading, Sample, Severity
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
        "energy": "kW.h",
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


PLUG_EXPOSES = [
    {"type": "switch", "features": [
        {"type": "binary", "name": "state", "property": "state", "access": 7,
         "value_on": "ON", "value_off": "OFF"}]},
    {"type": "enum", "name": "power_on_behavior", "property": "power_on_behavior", "access": 7,
     "values": ["off", "on", "previous"]},
    {"type": "enum", "name": "identify", "property": "identify", "access": 2,
     "values": ["identify"]},
    {"type": "binary", "name": "child_lock", "property": "child_lock", "access": 3,
     "value_on": "LOCK", "value_off": "UNLOCK"},
    {"type": "numeric", "name": "voltage", "property": "voltage", "access": 5, "unit": "V"},
    {"type": "numeric", "name": "energy", "property": "energy", "access": 5, "unit": "kWh"},
    {"type": "composite", "name": "color_xy", "property": "color", "access": 7, "features": [
        {"type": "numeric", "name": "x", "property": "x", "access": 7}]},
    {"type": "text", "name": "note", "property": "note", "access": 1},
]  # fmt: skip


def plug_decoder(**settings: Any) -> Zigbee2MqttDecoder:
    d = decoder(**settings)
    definition = {"model": "E2206", "vendor": "IKEA", "exposes": PLUG_EXPOSES}
    entry = {"friendly_name": "plug", "ieee_address": "0x02", "definition": definition}
    assert d.decode("zigbee2mqtt/bridge/devices", json.dumps([entry]).encode(), NOW) == []
    return d


def test_exposes_give_binaries_enums_and_units() -> None:
    d = plug_decoder()
    payload = json.dumps({
        "state": "ON", "child_lock": "UNLOCK", "power_on_behavior": "previous",
        "voltage": 231, "energy": 1.5, "color": {"x": 0.3}, "note": "hi", "identify": "x",
        "last_seen": "2026-12-02T22:00:00Z",
    }).encode()  # fmt: skip
    meta = {"ieee_address": "0x02", "model": "E2206", "vendor": "IKEA"}
    assert plain(d.decode("zigbee2mqtt/plug", payload, NOW)) == [
        ("reading", "plug", "state", 1.0, "{bool}", meta),
        ("reading", "plug", "child_lock", 0.0, "{bool}", meta),
        ("reading", "plug", "power_on_behavior", 0.0, "{state}", {**meta, "state": "off"}),
        ("reading", "plug", "power_on_behavior", 0.0, "{state}", {**meta, "state": "on"}),
        ("reading", "plug", "power_on_behavior", 1.0, "{state}", {**meta, "state": "previous"}),
        ("reading", "plug", "voltage", 231.0, "V", meta),
        ("reading", "plug", "energy", 1.5, "kW.h", meta),
        ("reading", "plug", "color_x", 0.3, "", meta),
        ("event", "plug", Severity.INFO, "plug: note = hi",
         {**meta, "field": "note", "value": "hi"}),
        ("event", "plug", Severity.INFO, "plug: identify = x",
         {**meta, "field": "identify", "value": "x"}),
    ]  # fmt: skip
    # the same strings again are not logged again; a changed one is
    again = [s for s in d.decode("zigbee2mqtt/plug", payload, NOW) if not isinstance(s, Reading)]
    assert again == []
    changed = d.decode("zigbee2mqtt/plug", b'{"note": "bye"}', NOW)
    assert [s.body for s in changed if not isinstance(s, Reading)] == ["plug: note = bye"]


def test_configured_units_win_over_exposes() -> None:
    d = plug_decoder(units={"voltage": "kV"})
    assert d.unit("voltage", "plug") == "kV"
    assert d.unit("energy", "plug") == "kW.h"
    assert d.unit("voltage", "other") == "kV"
    assert decoder().unit("voltage", "plug") == "mV"


def test_availability_and_bridge_state_carry_health() -> None:
    d = plug_decoder()
    offline = d.decode("zigbee2mqtt/plug/availability", b'{"state":"offline"}', NOW)
    assert [(s.device, s.available) for s in offline if not isinstance(s, Reading)] == [
        ("plug", False)
    ]
    online = d.decode("zigbee2mqtt/plug/availability", b'{"state":"online"}', NOW)
    assert [(s.device, s.available) for s in online if not isinstance(s, Reading)] == [
        ("plug", True)
    ]
    down = d.decode("zigbee2mqtt/bridge/state", b'{"state":"offline"}', NOW)
    assert plain(down)[0] == ("reading", "bridge", "available", 0.0, "{bool}", {})
    assert [(s.device, s.available) for s in down if not isinstance(s, Reading)] == [
        ("bridge", False),
        ("plug", False),
    ]
    assert [s for s in d.decode("zigbee2mqtt/bridge/state", b"offline", NOW)
            if not isinstance(s, Reading)] == []  # fmt: skip
    up = d.decode("zigbee2mqtt/bridge/state", b"online", NOW)
    assert [(s.device, s.available) for s in up if not isinstance(s, Reading)] == [
        ("bridge", True),
        ("plug", True),
    ]


def test_a_device_left_out_of_bridge_devices_is_gone() -> None:
    d = plug_decoder()
    [gone] = d.decode("zigbee2mqtt/bridge/devices", b"[]", NOW)
    assert isinstance(gone, Event) and gone.gone and gone.device == "plug"
    assert d.decode("zigbee2mqtt/bridge/devices", b"[]", NOW) == []


def test_a_flood_of_new_names_is_decoded_without_growing_what_the_decoder_remembers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sentio.connectors.zigbee2mqtt import decode as decode_module

    monkeypatch.setattr(decode_module, "TRACKED_MAX", 3)
    d = decoder()
    for i in range(10):
        assert d.decode(f"zigbee2mqtt/flood-{i}/availability", b"online", NOW)
        assert d.decode(f"zigbee2mqtt/flood-{i}", b'{"mode": "auto"}', NOW)
    assert len(d.available) == 3 and len(d._texts) == 3
