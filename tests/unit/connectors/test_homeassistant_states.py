from __future__ import annotations

import math
from typing import Any

import pytest
from sentio.connectors.contract import Event, Quality, Reading, Sample, Severity
from sentio.connectors.homeassistant import HomeAssistantConfig, StateTracker, parse_state
from sentio.connectors.homeassistant.states import parse_number, parse_timestamp

T0 = "2024-01-02T03:04:05.123456+00:00"
T0_NS = 1704164645123456000


def state(entity_id: str, value: str, **attributes: Any) -> dict[str, Any]:
    return {
        "entity_id": entity_id,
        "state": value,
        "attributes": attributes,
        "last_changed": T0,
        "last_updated": T0,
        "context": {"id": "01H", "parent_id": None, "user_id": None},
    }


def tracker(**changes: Any) -> StateTracker:
    config = HomeAssistantConfig.model_validate(
        {"url": "http://127.0.0.1:8123", "token": "t", **changes}
    )
    return StateTracker(config)


def readings(samples: list[Sample]) -> list[Reading]:
    return [s for s in samples if isinstance(s, Reading)]


def events(samples: list[Sample]) -> list[Event]:
    return [s for s in samples if isinstance(s, Event)]


def only_reading(samples: list[Sample]) -> Reading:
    found = readings(samples)
    assert len(found) == 1, samples
    return found[0]


def test_numeric_sensor_becomes_a_reading_named_by_device_class() -> None:
    samples = tracker().snapshot(
        [
            state(
                "sensor.living_room_temperature",
                "21.5",
                unit_of_measurement="°C",
                device_class="temperature",
                state_class="measurement",
                friendly_name="Living room",
            )
        ]
    )
    assert samples == [
        Reading(
            device="sensor.living_room_temperature",
            metric="temperature",
            value=21.5,
            unit="Cel",
            timestamp_ns=T0_NS,
            attributes={
                "entity_id": "sensor.living_room_temperature",
                "domain": "sensor",
                "friendly_name": "Living room",
                "device_class": "temperature",
            },
        )
    ]


def test_without_device_class_the_metric_is_the_object_id() -> None:
    reading = only_reading(
        tracker().snapshot([state("sensor.cpu_load", "3", unit_of_measurement="%")])
    )
    assert (reading.metric, reading.value, reading.unit) == ("cpu_load", 3.0, "%")


def test_metric_object_id_and_overrides() -> None:
    t = tracker(metric="object_id", metrics={"sensor.grid": "grid_import_power"})
    samples = t.snapshot(
        [
            state("sensor.boiler", "60", device_class="temperature", unit_of_measurement="°C"),
            state("sensor.grid", "1.2", device_class="power", unit_of_measurement="kW"),
        ]
    )
    assert [(r.metric, r.unit) for r in readings(samples)] == [
        ("boiler", "Cel"),
        ("grid_import_power", "kW"),
    ]


def test_unknown_unit_passes_through_and_missing_unit_is_none() -> None:
    samples = tracker(units={"steps": "{steps}"}).snapshot(
        [
            state("sensor.uv", "3", unit_of_measurement="UV index"),
            state("counter.visits", "7"),
            state("sensor.walk", "4000", unit_of_measurement="steps"),
        ]
    )
    assert [r.unit for r in readings(samples)] == ["UV index", "", "{steps}"]


def test_timestamp_prefers_last_reported() -> None:
    data = state("sensor.a", "1")
    data["last_reported"] = "2024-01-02T03:04:06+00:00"
    assert only_reading(tracker().snapshot([data])).timestamp_ns == T0_NS + 876544000


def test_timestamp_falls_back_to_now() -> None:
    data = state("sensor.a", "1")
    del data["last_updated"], data["last_changed"]
    assert only_reading(tracker().snapshot([data])).timestamp_ns > T0_NS


def test_string_state_is_a_state_reading_and_a_change_event() -> None:
    t = tracker()
    first = t.snapshot([state("light.kitchen", "off", friendly_name="Kitchen")])
    assert first == [
        Reading(
            device="light.kitchen",
            metric="state",
            value="off",
            unit="{state}",
            timestamp_ns=T0_NS,
            attributes={
                "entity_id": "light.kitchen",
                "domain": "light",
                "friendly_name": "Kitchen",
            },
        )
    ]
    samples = t.changed(
        {
            "entity_id": "light.kitchen",
            "old_state": state("light.kitchen", "off"),
            "new_state": state("light.kitchen", "on", friendly_name="Kitchen"),
        }
    )
    assert only_reading(samples).value == "on"
    (event,) = events(samples)
    assert event.body == "light.kitchen: off -> on"
    assert event.severity is Severity.INFO
    assert event.device == "light.kitchen"
    assert event.attributes["old_state"] == "off" and event.attributes["new_state"] == "on"


def test_numeric_changes_make_no_events() -> None:
    t = tracker()
    t.snapshot([state("sensor.p", "1", unit_of_measurement="W")])
    samples = t.changed(
        {
            "entity_id": "sensor.p",
            "old_state": state("sensor.p", "1"),
            "new_state": state("sensor.p", "2", unit_of_measurement="W"),
        }
    )
    assert events(samples) == []
    assert only_reading(samples).value == 2.0


def test_attribute_only_change_makes_a_reading_but_no_event() -> None:
    t = tracker()
    t.snapshot([state("light.hall", "on")])
    samples = t.changed(
        {
            "entity_id": "light.hall",
            "old_state": state("light.hall", "on"),
            "new_state": state("light.hall", "on", brightness=3),
        }
    )
    assert events(samples) == [] and only_reading(samples).value == "on"


def test_unavailable_numeric_entity_is_a_bad_nan_and_a_warn_event() -> None:
    t = tracker()
    t.snapshot([state("sensor.t", "20", unit_of_measurement="°C", device_class="temperature")])
    samples = t.changed({"entity_id": "sensor.t", "new_state": state("sensor.t", "unavailable")})
    reading = only_reading(samples)
    assert reading.quality is Quality.BAD and math.isnan(float(reading.value))
    assert (reading.metric, reading.unit) == ("temperature", "Cel")  # the series it had
    (event,) = events(samples)
    assert event.body == "sensor.t: 20 -> unavailable" and event.severity is Severity.WARN
    back = t.changed(
        {
            "entity_id": "sensor.t",
            "new_state": state(
                "sensor.t", "21", unit_of_measurement="°C", device_class="temperature"
            ),
        }
    )
    assert only_reading(back).quality is Quality.GOOD
    assert [e.body for e in events(back)] == ["sensor.t: unavailable -> 21"]
    assert events(back)[0].severity is Severity.INFO


def test_unknown_numeric_entity_is_uncertain() -> None:
    reading = only_reading(
        tracker().snapshot(
            [state("sensor.e", "unknown", unit_of_measurement="kWh", state_class="total")]
        )
    )
    assert reading.quality is Quality.UNCERTAIN and math.isnan(float(reading.value))
    assert reading.unit == "kW.h"


def test_unavailable_string_entity_keeps_the_string() -> None:
    reading = only_reading(tracker().snapshot([state("switch.pump", "unavailable")]))
    assert (reading.metric, reading.value, reading.quality) == ("state", "unavailable", Quality.BAD)


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "1e999"])
def test_non_finite_number_is_a_warn_event(value: str) -> None:
    samples = tracker().snapshot([state("sensor.p", value, unit_of_measurement="W")])
    (event,) = samples
    assert isinstance(event, Event) and event.severity is Severity.WARN
    assert event.device == "sensor.p" and repr(value) in event.body
    assert event.attributes["error"] == "not_finite"


def test_nan_on_a_string_entity_is_just_a_string() -> None:
    assert only_reading(tracker().snapshot([state("input_text.x", "nan")])).value == "nan"


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        ("not a state", "JSON object"),
        ({"state": "1"}, "entity_id"),
        ({"entity_id": "nodot", "state": "1"}, "entity_id"),
        ({"entity_id": "sensor.a", "state": 1.5}, "sensor.a: state must be a string"),
        ({"entity_id": "sensor.a", "state": "1", "attributes": []}, "sensor.a: attributes"),
    ],
)
def test_malformed_states_are_warn_events_and_the_rest_goes_on(bad: object, words: str) -> None:
    samples = tracker().snapshot([bad, state("sensor.ok", "1")])
    warning, reading = samples
    assert isinstance(warning, Event) and warning.severity is Severity.WARN
    assert words in warning.body and warning.device == "127.0.0.1:8123"
    assert isinstance(reading, Reading) and reading.device == "sensor.ok"


@pytest.mark.parametrize("data", [None, "x", {"entity_id": "sensor.a", "new_state": "x"}])
def test_malformed_state_changed_is_a_warn_event(data: object) -> None:
    (event,) = tracker().changed(data)
    assert isinstance(event, Event) and event.severity is Severity.WARN


def test_snapshot_that_is_not_a_list_is_a_warn_event() -> None:
    (event,) = tracker().snapshot({"message": "oops"})
    assert isinstance(event, Event) and "not a list" in event.body


def test_filter_applies_to_snapshots_and_changes() -> None:
    t = tracker(
        include={"domains": ["sensor"], "entities": ["light.kitchen*"]},
        exclude={"entities": ["sensor.*_rssi"]},
    )
    samples = t.snapshot(
        [
            state("sensor.power", "5"),
            state("sensor.plug_rssi", "-60"),
            state("light.kitchen", "on"),
            state("light.hall", "on"),
            state("automation.x", "on"),
        ]
    )
    assert [r.device for r in readings(samples)] == ["sensor.power", "light.kitchen"]
    assert t.changed({"entity_id": "light.hall", "new_state": state("light.hall", "off")}) == []
    assert set(t.known) == {"sensor.power", "light.kitchen"}


def test_snapshot_after_a_reconnect_reports_changes_made_meanwhile() -> None:
    t = tracker()
    t.snapshot([state("light.a", "off"), state("sensor.b", "1"), state("sensor.gone", "3")])
    later = state("light.a", "on")
    later["last_updated"] = "2024-01-02T04:00:00+00:00"
    samples = t.snapshot([later, state("sensor.b", "1")])
    assert [e.body for e in events(samples)] == [
        "light.a: off -> on",
        "sensor.gone: removed from Home Assistant",
    ]
    assert [r.device for r in readings(samples)] == ["light.a", "sensor.b"]


def test_partial_snapshot_skips_unchanged_states() -> None:
    t = tracker()
    t.snapshot([state("sensor.a", "1"), state("sensor.b", "2")])
    newer = state("sensor.b", "3")
    newer["last_updated"] = "2024-01-02T04:00:00+00:00"
    samples = t.snapshot([state("sensor.a", "1"), newer], full=False)
    assert [(r.device, r.value) for r in readings(samples)] == [("sensor.b", 3.0)]


def test_removed_entity() -> None:
    t = tracker()
    t.snapshot([state("sensor.a", "1")])
    (event,) = t.changed(
        {"entity_id": "sensor.a", "old_state": state("sensor.a", "1"), "new_state": None}
    )
    assert isinstance(event, Event) and "removed" in event.body
    assert t.known == {}
    assert t.changed({"entity_id": "sensor.a", "new_state": None}) == []


def test_a_removed_entity_is_gone_so_the_runtime_stops_its_heartbeat() -> None:
    t = tracker()
    t.snapshot([state("sensor.a", "1"), state("sensor.b", "2")])
    (event,) = [s for s in t.snapshot([state("sensor.b", "2")]) if isinstance(s, Event)]
    assert event.device == "sensor.a" and event.gone
    (again,) = t.changed({"entity_id": "sensor.b", "new_state": None})
    assert isinstance(again, Event) and again.gone
    changed = t.changed({"entity_id": "sensor.c", "new_state": state("sensor.c", "3")})
    assert not any(isinstance(s, Event) and s.gone for s in changed)


def test_parse_state_keeps_attributes() -> None:
    entity = parse_state(state("sensor.a_b", "1", unit_of_measurement="W"))
    assert (entity.domain, entity.object_id, entity.timestamp_ns) == ("sensor", "a_b", T0_NS)
    assert entity.numeric_hint


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("21.5", 21.5),
        ("-3", -3.0),
        ("1e3", 1000.0),
        (".5", 0.5),
        (" 7 ", 7.0),
        ("1_000", None),
        ("on", None),
        ("", None),
        ("0x10", None),
    ],
)
def test_parse_number(text: str, number: float | None) -> None:
    assert parse_number(text) == number


def test_parse_timestamp() -> None:
    assert parse_timestamp(T0) == T0_NS
    assert parse_timestamp("2024-01-02T03:04:05.123456") == T0_NS
    assert parse_timestamp("2024-01-02T03:04:05.123456Z") == T0_NS
    assert parse_timestamp("yesterday") is None
    assert parse_timestamp(5) is None
