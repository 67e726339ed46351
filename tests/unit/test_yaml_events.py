"""The event-stream YAML loader says what ``yaml.safe_load`` says."""

from __future__ import annotations

import datetime

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from sentio.yaml_events import load_yaml

scalars = (
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.floats(allow_nan=False)
)
data = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@given(data)
@settings(max_examples=300, deadline=None)
def test_dumped_data_loads_as_safe_load_loads_it(value: object) -> None:
    for style in (False, True, None):
        text = yaml.safe_dump(value, default_flow_style=style)
        assert load_yaml(text) == yaml.safe_load(text)


def test_aliases_share_one_object_and_merges_follow_yaml() -> None:
    text = """
defaults: &d {timeout_s: 3, retries: 1}
fields: &f [{name: a}, {name: b}]
devices:
  - {name: m1, fields: *f}
  - {name: m2, fields: *f}
conn:
  <<: *d
  retries: 5
both:
  <<: [{x: 1, y: 1}, {x: 2, z: 2}]
when: 2026-12-01
octal: 0o17
plain: [yes, no, ~, 1_000, 0x1F, .inf, "1"]
"""
    got = load_yaml(text)
    assert got == yaml.safe_load(text)
    assert got["devices"][0]["fields"] is got["devices"][1]["fields"]
    assert got["conn"] == {"timeout_s": 3, "retries": 5}
    assert got["both"] == {"x": 1, "y": 1, "z": 2}
    assert got["when"] == datetime.date(2026, 12, 1)


@pytest.mark.parametrize(
    "text",
    ["--- a\n--- b\n", "? [a, b]\n: c\n", "x: !!set {a, b}\n", "x: *nowhere\n", "x: !custom 1\n"],
)
def test_what_the_event_path_does_not_take_goes_to_pyyaml(text: str) -> None:
    try:
        expected: object = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        with pytest.raises(type(exc)):
            load_yaml(text)
    else:
        assert load_yaml(text) == expected


def test_a_syntax_error_carries_its_line() -> None:
    with pytest.raises(yaml.YAMLError) as info:
        load_yaml("a: 1\nb: [unclosed\nc: 2\n")
    mark = getattr(info.value, "problem_mark", None)
    assert mark is not None and mark.line >= 1
