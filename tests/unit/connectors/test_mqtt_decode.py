from __future__ import annotations

from typing import Any

import pytest
from sentio.connectors.contract import Event, Reading, Sample, Severity
from sentio.connectors.mqtt import MqttConfig, MqttConnector
from sentio.connectors.mqtt.decode import parse_number, preview

SUBSCRIPTIONS: list[dict[str, Any]] = [
    {"topic": "plant/{line}/{device}/{metric}", "unit": "Cel"},
    {
        "topic": "meters/{device}/state",
        "payload": "json",
        "fields": [
            {"path": "power.active", "metric": "active_power", "unit": "W"},
            {"path": "phases[1]", "metric": "l2_voltage", "unit": "V"},
            {"path": "on", "metric": "on"},
        ],
    },
    {"topic": "weather/+/#", "device": "station", "metric": "outdoor", "unit": "Cel"},
    {"topic": "plant/#", "device": "shadowed", "metric": "never"},
]


def decode(topic: str, payload: bytes) -> list[Sample]:
    config = MqttConfig.model_validate({"broker": {"host": "h"}, "subscriptions": SUBSCRIPTIONS})
    return MqttConnector(config).decode(topic, payload)


def plain(samples: list[Sample]) -> list[tuple[Any, ...]]:
    return [
        ("reading", s.device, s.metric, s.value, s.unit, dict(s.attributes))
        if isinstance(s, Reading)
        else ("event", s.device, s.severity, s.body, dict(s.attributes))
        for s in samples
    ]


def test_number_payload_with_captured_attributes() -> None:
    assert plain(decode("plant/l1/oven-3/temperature", b"21.5\n")) == [
        (
            "reading",
            "oven-3",
            "temperature",
            21.5,
            "Cel",
            {"line": "l1", "topic": "plant/l1/oven-3/temperature"},
        )
    ]


def test_json_payload_yields_one_reading_per_field() -> None:
    payload = b'{"power": {"active": 1250}, "phases": [230.1, 229.8], "on": true}'
    assert plain(decode("meters/m1/state", payload)) == [
        ("reading", "m1", "active_power", 1250.0, "W", {"topic": "meters/m1/state"}),
        ("reading", "m1", "l2_voltage", 229.8, "V", {"topic": "meters/m1/state"}),
        ("reading", "m1", "on", 1.0, "", {"topic": "meters/m1/state"}),
    ]


def test_json_problems_are_warnings_per_field() -> None:
    payload = b'{"power": {"active": "lots"}, "phases": [1], "on": null}'
    assert plain(decode("meters/m1/state", payload)) == [
        (
            "event",
            "m1",
            Severity.WARN,
            'meters/m1/state: power.active is not a number: "lots"',
            {"topic": "meters/m1/state"},
        ),
        (
            "event",
            "m1",
            Severity.WARN,
            "meters/m1/state: phases[1]: no item phases[1]",
            {"topic": "meters/m1/state"},
        ),
        (
            "event",
            "m1",
            Severity.WARN,
            "meters/m1/state: on is not a number: null",
            {"topic": "meters/m1/state"},
        ),
    ]


def test_invalid_json_is_one_warning() -> None:
    [event] = decode("meters/m1/state", b"\xff\xfe")
    assert isinstance(event, Event)
    assert event.severity == Severity.WARN
    assert event.body.startswith("meters/m1/state: payload is not valid JSON (")
    assert event.body.endswith("'\ufffd\ufffd'")


def test_fixed_device_and_first_match_wins() -> None:
    assert plain(decode("weather/roof/a/b", b"3")) == [
        ("reading", "station", "outdoor", 3.0, "Cel", {"topic": "weather/roof/a/b"})
    ]
    assert plain(decode("plant/x", b"1")) == [
        ("reading", "shadowed", "never", 1.0, "", {"topic": "plant/x"})
    ]
    assert decode("elsewhere/x", b"1") == []


@pytest.mark.parametrize(
    ("payload", "number"),
    [
        (b"1", 1.0),
        (b" -2.5e3 ", -2500.0),
        (b"nan", None),
        (b"inf", None),
        (b"", None),
        (b"1,5", None),
        (b"\xff", None),
    ],
)
def test_parse_number(payload: bytes, number: float | None) -> None:
    assert parse_number(payload) == number


def test_preview_truncates() -> None:
    assert preview(b"x" * 50) == repr("x" * 40 + "...")
    assert preview(b"ok") == "'ok'"
