"""A small fleet run end to end: simulator, a real `sentio run`, a real VictoriaMetrics."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from sentio.bench.fleet import run
from sentio.bench.fleet_sim import REGISTERS

DEVICES = 20
DURATION_S = 4.0


@pytest.mark.timeout(180)
async def test_a_small_fleet_lands_every_reading_of_every_device(tmp_path: Path) -> None:
    report = await run(tmp_path, devices=DEVICES, duration_s=DURATION_S, warmup_s=1.0)
    print(report)
    assert report.devices == report.devices_landed == DEVICES
    assert report.readings >= DEVICES * REGISTERS * DURATION_S
    assert report.readings % REGISTERS == 0, "every poll lands whole"
    assert (report.dropped, report.duplicates) == (0, 0)
    assert report.readings_per_s > 0 and report.cpu_s_per_100k > 0
    assert not math.isnan(report.poll_lag_p99_s), "consecutive polls were paired"
    assert report.spans_per_poll >= 1.0, "every poll's span reached the sink"
