"""The collector-path round trip's config and summary."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentio.bench.collector_roundtrip import Change, TimedPump, collector_config, summarize
from sentio.config import SentioConfig


def test_the_collector_runs_at_the_default_poll_interval_unless_told(tmp_path: Path) -> None:
    base = SentioConfig()
    default = collector_config(base, 5020, tmp_path, "rt-1", None)
    assert default.connectors[0].poll_interval_s == 10.0
    assert default.collector.flush_interval_s == base.collector.flush_interval_s
    assert default.instance_id() == "rt-1"
    assert default.collector.spool_dir == tmp_path / "spool"
    assert collector_config(base, 5020, tmp_path, "rt-1", 1.0).connectors[0].poll_interval_s == 1.0


def test_summary_reports_both_spans_percentiles() -> None:
    config = collector_config(SentioConfig(), 5020, Path("/tmp"), "rt-1", 2.0)
    changes = [Change(float(i) + 1.0, float(i) / 10 + 0.5) for i in range(100)]
    report = summarize(changes, config)
    assert report.samples == 100
    assert report.change_p50_s == pytest.approx(50.5)
    assert report.change_max_s == 100.0
    assert report.poll_p99_s == pytest.approx(10.301)
    assert report.poll_interval_s == 2.0


def test_the_pump_notes_only_the_first_read_after_a_change() -> None:
    pump = TimedPump()
    pump.input_registers()
    assert pump.first_read_at is None
    assert pump.toggle() == 0.0
    pump.input_registers()
    first = pump.first_read_at
    assert first is not None and first >= (pump.changed_at or 0)
    pump.input_registers()
    assert pump.first_read_at == first
    assert pump.toggle() == 12.0 and pump.first_read_at is None
