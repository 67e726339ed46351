"""Nothing lost: a hung metrics backend, a collector killed with SIGKILL (real VictoriaMetrics)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from sentio.bench.faults import hung_backend, kill9

HANG_S = 120.0


@pytest.mark.timeout(HANG_S + 300)
async def test_a_hung_backend_for_two_minutes_loses_no_reading(tmp_path: Path) -> None:
    report = await hung_backend(tmp_path, hang_s=HANG_S, after_s=10.0, units=12, interval_s=0.2)
    print(
        f"hung backend: {report.readings} readings at {report.readings_per_s}/s, {report.lost} lost"
    )
    assert report.readings >= 5000 * HANG_S, "the scenario's load: at least 5,000 readings/s"
    assert len(report.per_device) == 12
    for device, (read, counted) in report.per_device.items():
        assert counted == read, f"{device}: read {read}, counted back {counted}"
    assert report.lost == 0
    assert (report.queue_dropped, report.spool_dropped, report.refused, report.torn) == (0, 0, 0, 0)


@pytest.mark.timeout(240)
async def test_a_collector_killed_with_sigkill_delivers_all_it_spooled(tmp_path: Path) -> None:
    report = await kill9(tmp_path, units=4, interval_s=0.2, rng=random.Random())
    assert report.readings >= 2000, "killed while spooling, not before"
    assert report.in_memory >= 0
    assert report.lost == 0, report
    assert report.spool_dropped == 0 and report.refused == 0
