"""A full spool disk loses nothing silently: every reading lands or is counted as dropped."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentio.bench.faults import diskfull

TMPFS_BYTES = 1 << 20


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """Mount a 1 MiB tmpfs for the spool (needs root; skipped where mounting is not allowed)."""
    folder = tmp_path / "small-disk"
    folder.mkdir()
    mounted = os.geteuid() == 0 and subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(folder)],
        capture_output=True, check=False,
    ).returncode == 0  # fmt: skip
    if not mounted:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.timeout(240)
async def test_a_full_spool_disk_counts_every_reading_landed_or_dropped(
    tmp_path: Path, small_disk: Path, caplog: pytest.LogCaptureFixture
) -> None:
    report = await diskfull(tmp_path, small_disk / "spool", down_s=20, queue_limit=20_000)
    assert report.readings > 20_000, "the outage outgrew both the disk and the queue"
    assert report.dropped > 0 and report.dropped_requests > 0, "something had to be dropped"
    assert report.landed > TMPFS_BYTES // 100, "the spool and the queue delivered after the outage"
    assert report.lost == 0, report
    assert report.spool_left_bytes == 0, "acknowledged space is given back"
    full = [r.getMessage() for r in caplog.records if "cannot write to the spool" in r.message]
    assert len(full) == 1, full
    assert str(small_disk / "spool") in full[0] and "free" in full[0]
