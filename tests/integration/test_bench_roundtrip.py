"""The collector-path round trip: a real ``sentio run`` reads a pump the bench changes."""

from __future__ import annotations

from sentio.bench.collector_roundtrip import measure
from sentio.config import SentioConfig


async def test_each_change_is_timed_from_the_change_and_from_the_poll_that_read_it(
    stack_config_live: SentioConfig,
) -> None:
    messages: list[str] = []
    report = await measure(stack_config_live, 5, 0.5, messages.append)
    assert report.samples == 5
    assert report.poll_interval_s == 0.5
    assert 0 < report.poll_p50_s <= report.change_p50_s
    assert report.poll_max_s <= report.change_max_s
    # a change waits at most one poll interval (and a poll's own duration) to be read
    assert report.change_max_s - report.poll_max_s < 0.5 + 2.0
    assert messages == ["collector path: 5/5 changes"]
