"""Raw OTLP samples into the real VictoriaMetrics, read back by the AI engine's chunked reader."""

from __future__ import annotations

import math
import time
import uuid

import aiohttp
import numpy as np
import pytest
from sentio.ai_engine.reader import Limits, PromReader, ReaderError, group, time_chunks

from sentio.config import SentioConfig
from sentio.otlp import MetricsPusher, Point, encode_gauges
from sentio.stack.probe import poll

STEP = 60
POINTS = 120


def test_time_chunks_cover_the_range_without_overlap() -> None:
    assert time_chunks(0, 540, 60, 4) == [(0, 180), (240, 420), (480, 540)]
    assert time_chunks(0, 0, 60, 4) == [(0, 0)]
    with pytest.raises(ReaderError, match="ends"):
        time_chunks(10, 0, 60, 4)


async def _write(config: SentioConfig, run: str, devices: int, start: int) -> None:
    points = [
        Point(
            "ai.reader.test",
            value=float(d * 1000 + i),
            timestamp_ns=(start + i * STEP) * 1_000_000_000,
            attributes={"device": f"dev-{d:02d}", "run": run, "sensor": f"s{d % 2}"},
        )
        for d in range(devices)
        for i in range(POINTS)
        if not (d == 0 and 50 <= i < 60)
    ]
    async with aiohttp.ClientSession() as session:
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        await pusher.push(encode_gauges({"service.name": "reader-test"}, points))


async def test_chunked_read_equals_what_was_written(stack_config_live: SentioConfig) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    start = (int(time.time()) // STEP - POINTS - 5) * STEP
    end = start + (POINTS - 1) * STEP
    await _write(config, run, devices=25, start=start)
    base = f"http://{config.stack.host}:{config.stack.victoriametrics.port}"
    query = f'ai_reader_test{{run="{run}"}}'
    async with aiohttp.ClientSession() as session:
        whole = PromReader(session, base)

        async def all_there() -> list[object] | None:
            got = await whole.read(query, start, end, STEP)
            complete = len(got) == 25 and all(not math.isnan(s.values[-1]) for s in got)
            return list(got) if complete else None

        await poll(all_there, 30, "25 written series")
        expected = await whole.read(query, start, end, STEP)
        chunked = await PromReader(session, base, Limits(7, 4)).read(query, start, end, STEP)
        gzipped = await PromReader(session, base, compress=True).read(query, start, end, STEP)
        encodings = []
        for compress in (False, True):
            reader = PromReader(session, base, compress=compress)
            params = {"query": query, "start": str(start), "end": str(end), "step": f"{STEP}s"}
            url = f"{base}/api/v1/query_range"
            async with session.post(url, data=params, headers=reader.headers) as resp:
                encodings.append(resp.headers.get("Content-Encoding"))
        paged = PromReader(session, base, Limits(max_series_per_page=4))
        sizes = [len(page) async for page in paged.pages(query, start, end, STEP)]
        peak, requests = paged.counts.peak_held, paged.counts.requests
        sensors = [
            {s.labels["sensor"] for s in page}
            for reader in (paged, PromReader(session, base, Limits(7, 4, max_series_per_page=4)))
            async for page in reader.pages(query, start, end, STEP, ["sensor"])
        ]

    assert sizes == [4] * 6 + [1]
    assert peak == 4, "a page of series held, never the query's"
    assert requests == 2, "the listing, then one query_range streamed in pages"
    assert sensors == [{"s0"}, {"s1"}] * 2, "a group is never split across pages"
    assert encodings == [None, "gzip"], "VictoriaMetrics gzips only a reader that asks"
    assert [s.labels for s in chunked] == [s.labels for s in expected]
    assert [s.labels for s in gzipped] == [s.labels for s in expected]
    for a, b, c in zip(chunked, expected, gzipped, strict=True):
        np.testing.assert_array_equal(a.values, b.values)
        np.testing.assert_array_equal(c.values, b.values)
    dev3 = next(s for s in chunked if s.labels["device"] == "dev-03")
    np.testing.assert_array_equal(dev3.values, 3000 + np.arange(POINTS, dtype=float))
    assert int(dev3.timestamps[0]) == start and len(dev3.values) == POINTS
    dev0 = next(s for s in chunked if s.labels["device"] == "dev-00")
    # PromQL's lookback may carry the last sample one step into a gap; the rest of it is NaN.
    assert np.isnan(dev0.values[51:60]).all()
    assert dev0.values[50] == 49.0 or np.isnan(dev0.values[50])
    assert dev0.values[49] == 49.0 and dev0.values[60] == 60.0
    groups = group(chunked, ["sensor"])
    assert sorted(len(v) for v in groups.values()) == [12, 13]


async def test_a_bad_query_names_itself(stack_config_live: SentioConfig) -> None:
    config = stack_config_live
    base = f"http://{config.stack.host}:{config.stack.victoriametrics.port}"
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ReaderError, match=r"sum\(\(\("):
            await PromReader(session, base).read("sum(((", 0, 600, 60)


async def test_a_range_over_the_point_limit_is_read_a_page_at_a_time(
    stack_config_live: SentioConfig,
) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    start = (int(time.time()) // STEP - POINTS - 5) * STEP
    end = start + (POINTS - 1) * STEP
    await _write(config, run, devices=25, start=start)
    base = f"http://{config.stack.host}:{config.stack.victoriametrics.port}"
    query = f'ai_reader_test{{run="{run}"}}'
    async with aiohttp.ClientSession() as session:
        whole = PromReader(session, base)

        async def all_there() -> list[object] | None:
            got = await whole.read(query, start, end, STEP)
            complete = len(got) == 25 and all(not math.isnan(s.values[-1]) for s in got)
            return list(got) if complete else None

        await poll(all_there, 30, "25 written series")
        expected = {s.key(): s.values for s in await whole.read(query, start, end, STEP)}
        # 120 points a series over a limit of 50: three time chunks, each of one page only.
        reader = PromReader(session, base, Limits(50, 10_000, max_series_per_page=4))
        seen: list[list[str]] = []
        requests_at_first_page = 0
        async for page in reader.pages(query, start, end, STEP, ["sensor"]):
            requests_at_first_page = requests_at_first_page or reader.counts.requests
            seen.append([s.labels["device"] for s in page])
            assert len({s.labels["sensor"] for s in page}) == 1, "a group stays in one page"
            for s in page:
                np.testing.assert_array_equal(s.values, expected[s.key()])
    assert sorted(d for page in seen for d in page) == sorted(f"dev-{d:02d}" for d in range(25))
    # s0 has 13 devices, s1 12: each group is one page even though it is larger than 4.
    assert sorted(len(p) for p in seen) == [12, 13]
    assert reader.counts.peak_held <= 13, "never more than one page of series held"
    assert requests_at_first_page == 1 + 3, "the listing, then one page's three chunks"
    assert reader.counts.requests == 1 + 3 * 2
    assert reader.counts.series == 25 * 3, "each series read once per chunk, no other"


async def test_over_the_limit_ungrouped_pages_hold_one_page(
    stack_config_live: SentioConfig,
) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    start = (int(time.time()) // STEP - POINTS - 5) * STEP
    end = start + (POINTS - 1) * STEP
    await _write(config, run, devices=25, start=start)
    base = f"http://{config.stack.host}:{config.stack.victoriametrics.port}"
    query = f'ai_reader_test{{run="{run}"}}'
    async with aiohttp.ClientSession() as session:
        whole = PromReader(session, base)

        async def all_there() -> list[object] | None:
            got = await whole.read(query, start, end, STEP)
            complete = len(got) == 25 and all(not math.isnan(s.values[-1]) for s in got)
            return list(got) if complete else None

        await poll(all_there, 30, "25 written series")
        reader = PromReader(session, base, Limits(50, 10_000, max_series_per_page=4))
        sizes = [len(page) async for page in reader.pages(query, start, end, STEP)]
    assert sizes == [4] * 6 + [1]
    assert reader.counts.peak_held == 4
    assert reader.counts.series == 25 * 3, "a page's matchers name its own series only"


async def test_an_expression_is_listed_and_narrowed_too(stack_config_live: SentioConfig) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    start = (int(time.time()) // STEP - POINTS - 5) * STEP
    end = start + (POINTS - 1) * STEP
    await _write(config, run, devices=6, start=start)
    base = f"http://{config.stack.host}:{config.stack.victoriametrics.port}"
    query = f'2 * ai_reader_test{{run="{run}"}}'
    async with aiohttp.ClientSession() as session:
        whole = PromReader(session, base)

        async def all_there() -> list[object] | None:
            got = await whole.read(query, start, end, STEP)
            complete = len(got) == 6 and all(not math.isnan(s.values[-1]) for s in got)
            return list(got) if complete else None

        await poll(all_there, 30, "6 written series")
        reader = PromReader(session, base, Limits(max_series_per_page=1))
        odd = [
            s
            async for page in reader.pages(
                query, start, end, STEP, ["device"], keep=lambda labels: labels["sensor"] == "s1"
            )
            for s in page
        ]
    assert sorted(s.labels["device"] for s in odd) == ["dev-01", "dev-03", "dev-05"]
    dev3 = next(s for s in odd if s.labels["device"] == "dev-03")
    np.testing.assert_array_equal(dev3.values, 2 * (3000 + np.arange(POINTS, dtype=float)))
    assert reader.counts.series == 3, "label_match narrowed each page to its device"
