from __future__ import annotations

import pytest
from sentio.connectors.homeassistant import UCUM, to_ucum


@pytest.mark.parametrize(
    ("unit", "ucum"),
    [
        ("°C", "Cel"),
        ("°F", "[degF]"),
        ("%", "%"),
        ("W", "W"),
        ("kW", "kW"),
        ("kWh", "kW.h"),
        ("V", "V"),
        ("A", "A"),
        ("hPa", "hPa"),
        ("lx", "lx"),
        ("ppm", "[ppm]"),
        ("µg/m³", "ug/m3"),
        ("\u03bcg/m\u00b3", "ug/m3"),
        ("dBm", "dB[mW]"),
        ("m³", "m3"),
        ("km/h", "km/h"),
        ("MiB", "MiBy"),
        (" kWh ", "kW.h"),
    ],
)
def test_known_units_map_to_ucum(unit: str, ucum: str) -> None:
    assert to_ucum(unit) == ucum


@pytest.mark.parametrize("unit", ["UV index", "steps", "€/kWh"])
def test_unknown_units_pass_through(unit: str) -> None:
    assert to_ucum(unit) == unit


@pytest.mark.parametrize("unit", [None, "", "  "])
def test_no_unit_is_none(unit: str | None) -> None:
    assert to_ucum(unit) == ""  # a plain number: no `_ratio` suffix on its name


def test_overrides_win_and_add() -> None:
    overrides = {"kWh": "kWh", "steps": "{steps}"}
    assert to_ucum("kWh", overrides) == "kWh"
    assert to_ucum("steps", overrides) == "{steps}"
    assert to_ucum("W", overrides) == "W"


def test_table_has_no_blank_or_spaced_entries() -> None:
    for unit, ucum in UCUM.items():
        assert unit == unit.strip() and unit
        assert ucum and " " not in ucum
