"""`sentio bench logql` at a small scale: every query answers both ways, the stream is whole.

The bench waits until VictoriaLogs returns its newest record as a row, not only until it
counts every record: its stats see fresh records a second or so before ``sort | limit``
queries do, and the streamed answer then came back empty now and then.
"""

from __future__ import annotations

import pytest

from sentio.bench.logql import CORPUS, run
from sentio.config import SentioConfig
from tests.conftest import stack_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


def test_bench_logql_small(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config: SentioConfig = stack_config(tmp_path)
    report = run(config, records=6000, repeat=1, stream_lines=2000, progress=lambda _m: None)
    assert report.records == 6000
    assert report.stream_lines == 2000
    assert report.stream_bytes > 2000 * 20
    assert [t.query for t in report.timings] == [q for _k, q in CORPUS]
    assert all(t.api_s > 0 and t.direct_s > 0 and t.api_cpu_ms > 0 for t in report.timings)
    assert report.api_peak_rss_streaming_mb >= report.api_rss_before_mb > 0
    assert report.api_peak_rss_mb >= report.api_peak_rss_streaming_mb
    assert 0 < report.ratio_min <= report.ratio_p25 <= report.median_ratio
    assert report.median_ratio <= report.ratio_p75 <= report.p99_ratio <= report.ratio_max
    assert "rate_counter" in report.constructs_supported
    assert report.constructs_refused["distinct"].startswith("unsupported LogQL: distinct")
