"""Values go into PromQL and LogsQL as one string literal each, whatever they hold."""

from __future__ import annotations

import pytest

from sentio.stack.query import exact, quote, selector, stream_filter


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        ("plant-a", '"plant-a"'),
        ('a"} or vector(1) #', '"a\\"} or vector(1) #"'),
        ("back\\slash", '"back\\\\slash"'),
        ("two\nlines\r", '"two\\nlines\\r"'),
        ("nul\x00", '"nul\\u0000"'),
        ("Gerät 😀", '"Gerät 😀"'),
    ],
)
def test_quote_escapes_what_would_end_the_literal(value: str, literal: str) -> None:
    assert quote(value) == literal


def test_builders_quote_values_and_check_names() -> None:
    assert selector("up", {"job": 'x"y'}) == 'up{job="x\\"y"}'
    assert selector("", {"instance": "i"}) == '{instance="i"}'
    assert stream_filter({"service.name": "s|t"}) == '{service.name="s|t"}'
    assert exact("trace_id", "ab") == 'trace_id:="ab"'
    assert exact("odd name", "v") == '"odd name":="v"'
    assert selector("up", {'a"} or x{b': "v"}) == 'up{"a\\"} or x{b"="v"}'
    with pytest.raises(ValueError, match="not a PromQL metric name"):
        selector("up{", {})
    with pytest.raises(ValueError, match="not valid Unicode"):
        quote("\ud800")
