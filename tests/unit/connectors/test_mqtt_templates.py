from __future__ import annotations

import pytest
from sentio.connectors.mqtt import TopicTemplate


def test_placeholders_subscribe_as_plus_and_capture() -> None:
    template = TopicTemplate.parse("plant/{line}/{device}/+/{metric}")
    assert template.filter == "plant/+/+/+/+"
    assert template.names == frozenset({"line", "device", "metric"})
    assert template.match("plant/l1/oven-3/x/temperature") == {
        "line": "l1",
        "device": "oven-3",
        "metric": "temperature",
    }
    assert template.match("plant/l1/oven-3/x") is None
    assert template.match("plant/l1/oven-3/x/temperature/extra") is None
    assert template.match("other/l1/oven-3/x/temperature") is None


def test_hash_matches_the_rest_and_the_parent() -> None:
    template = TopicTemplate.parse("weather/{device}/#")
    assert template.filter == "weather/+/#"
    assert template.match("weather/roof/a/b/c") == {"device": "roof"}
    assert template.match("weather/roof") == {"device": "roof"}
    assert template.match("weather") is None


def test_literal_topic_matches_only_itself() -> None:
    template = TopicTemplate.parse("a/b")
    assert template.filter == "a/b"
    assert template.match("a/b") == {}
    assert template.match("a/c") is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "must not be empty"),
        ("a/#/b", "'#' must be the whole last segment"),
        ("a/b#", "'#' must be the whole last segment"),
        ("a/x+", r"'\+' must fill a whole segment"),
        ("a/dev-{device}", "must fill a whole segment"),
        ("{device}/{device}", "appears twice"),
    ],
)
def test_bad_templates_are_rejected(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        TopicTemplate.parse(text)
