"""A poll span's values read as a person would write them, whatever the batch holds."""

from __future__ import annotations

from sentio.collectors.spans import SpanValues
from sentio.connectors.contract import Reading, ReadingBatch

METRICS = (("voltage", "V"), ("running", ""), ("rate%", "1"))


def test_numbers_show_fifteen_digits_and_bools_as_their_metric_value() -> None:
    values = SpanValues()
    batch = ReadingBatch("m1", METRICS, [2301 * 0.1, True, 1e20])
    assert values.format(batch) == "voltage=230.1 running=1 rate%=1e+20"
    assert values.format(ReadingBatch("m1", METRICS, [float("nan"), False, 7])) == (
        "voltage=nan running=0 rate%=7"
    )
    assert values.format(Reading("m1", "voltage", 0.1 + 0.2)) == "voltage=0.3"


def test_a_string_among_the_values_and_a_short_batch_do_not_raise() -> None:
    values = SpanValues()
    assert values.format(ReadingBatch("m1", METRICS, [1.5, "on", 2.0])) == (
        "voltage=1.5 running=on rate%=2.0"
    )
    assert values.format(Reading("m1", "mode", "auto")) == "mode=auto"
    short = ReadingBatch.__new__(ReadingBatch)
    object.__setattr__(short, "device", "m1")
    object.__setattr__(short, "metrics", METRICS)
    object.__setattr__(short, "values", [1.0])
    assert values.format(short) == ""
