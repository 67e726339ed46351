from __future__ import annotations

import pytest
from sentio.connectors.mqtt import PathError, as_number, format_path, parse_path, resolve

DOC = {"sensors": {"temp": 21.5, "list": [[1, 2], [3, {"x": 4}]]}, "values": [7, 8]}


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("sensors.temp", ("sensors", "temp")),
        ("values[0]", ("values", 0)),
        ("sensors.list[1][1].x", ("sensors", "list", 1, 1, "x")),
        ("[2].a", (2, "a")),
        ("a b.c-d", ("a b", "c-d")),
    ],
)
def test_parse_path(text: str, keys: tuple[str | int, ...]) -> None:
    assert parse_path(text) == keys
    assert format_path(keys) == text


@pytest.mark.parametrize("text", ["", "a..b", "a.", ".a", "a[x]", "a[-1]", "a[1", "a]b", "a.[0]"])
def test_malformed_paths_are_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="JSON path"):
        parse_path(text)


def test_resolve() -> None:
    assert resolve(DOC, parse_path("sensors.temp")) == 21.5
    assert resolve(DOC, parse_path("values[1]")) == 8
    assert resolve(DOC, parse_path("sensors.list[1][1].x")) == 4
    assert resolve([5, 6], parse_path("[1]")) == 6


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("sensors.humidity", "no key sensors.humidity"),
        ("values[2]", r"no item values\[2\]"),
        ("sensors.temp.x", "no key sensors.temp.x"),
        ("sensors[0]", r"no item sensors\[0\]"),
    ],
)
def test_resolve_names_the_missing_part(text: str, message: str) -> None:
    with pytest.raises(PathError, match=message):
        resolve(DOC, parse_path(text))


def test_as_number() -> None:
    assert as_number(3) == 3.0
    assert as_number(-2.5) == -2.5
    assert as_number(True) == 1.0
    assert as_number(False) == 0.0
    assert as_number("3") is None
    assert as_number(None) is None
    assert as_number([1]) is None
    assert as_number(float("inf")) is None
