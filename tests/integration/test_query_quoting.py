"""A quoted value selects exactly its own series and records in the real VictoriaMetrics and Logs.

Values that try to end their literal (quotes, backslashes, braces, `or`, pipes, newlines, NUL,
any Unicode) are stored as a label, a stream field and a plain field, then each is queried with
the selectors Sentio builds: every query must parse and return that value's entries only.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import aiohttp
import pytest
from hypothesis import given, settings

from sentio.bench.fuzz import ADVERSARIAL, query_values
from sentio.config import SentioConfig
from sentio.stack.backends import backends
from sentio.stack.install import install
from sentio.stack.probe import poll
from sentio.stack.query import exact, logsql, promql, selector, stream_filter
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from tests.conftest import stack_config

GENERATED = 80  # bounded: each value is one series, one record and three queries


@pytest.fixture(scope="module")
def vm_and_vl(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SentioConfig]:
    config = stack_config(tmp_path_factory.mktemp("quoting"))
    every = backends(load_versions())
    chosen = {name: every[name] for name in ("victoriametrics", "victorialogs")}
    install(chosen.values(), None, lambda _m: None)
    stack = Stack(config.stack, chosen)
    asyncio.run(stack.up(lambda _m: None))
    try:
        yield config
    finally:
        asyncio.run(stack.down(progress=lambda _m: None))


def drawn() -> list[str]:
    """Return the adversarial values and a bounded, reproducible draw of generated ones."""
    values: list[str] = []

    @settings(max_examples=GENERATED, database=None, derandomize=True, deadline=None)
    @given(query_values())
    def collect(value: str) -> None:
        values.append(value)

    collect()
    # An empty label value means "no such label" in PromQL; it is not a value to select.
    return sorted({v for v in [*ADVERSARIAL, *values] if v})


async def _ingest(
    session: aiohttp.ClientSession, config: SentioConfig, run: str, values: list[str]
) -> None:
    vm, vl = config.stack.url("victoriametrics"), config.stack.url("victorialogs")
    now_ms = int(time.time() * 1000)
    series = "\n".join(
        json.dumps({"metric": {"__name__": "sentio_fuzz_quote", "run": run, "v": v, "i": str(i)},
                    "values": [i], "timestamps": [now_ms]})
        for i, v in enumerate(values)
    )  # fmt: skip
    async with session.post(f"{vm}/api/v1/import", data=series.encode()) as resp:
        assert resp.status == 204, await resp.text()
    await session.get(f"{vm}/internal/force_flush")
    stamp = datetime.now(UTC).isoformat()
    records = "\n".join(
        json.dumps({"_time": stamp, "_msg": "fuzz", "run": run, "v": v, "w": v, "i": str(i)})
        for i, v in enumerate(values)
    )
    params = {"_stream_fields": "run,v", "_msg_field": "_msg", "_time_field": "_time"}
    async with session.post(f"{vl}/insert/jsonline", params=params, data=records.encode()) as resp:
        assert resp.status == 200, await resp.text()


async def _round_trip(config: SentioConfig, values: list[str]) -> list[str]:
    vm, vl = config.stack.url("victoriametrics"), config.stack.url("victorialogs")
    run = uuid.uuid4().hex[:8]
    wrong: list[str] = []
    async with aiohttp.ClientSession() as session:
        await _ingest(session, config, run, values)

        async def all_in() -> bool | None:
            metrics = await promql(
                session, vm, f"count({selector('sentio_fuzz_quote', {'run': run})})"
            )
            logs = await logsql(session, vl, stream_filter({"run": run}), "1h", len(values) + 10)
            ok = metrics and int(metrics[0]["value"][1]) == len(values) and len(logs) == len(values)
            return True if ok else None

        await poll(all_in, 60, f"{len(values)} series and records")
        for i, value in enumerate(values):
            queries = {
                "promql": selector("sentio_fuzz_quote", {"run": run, "v": value}),
                "logsql exact": f"{stream_filter({'run': run})} {exact('w', value)}",
                "logsql stream": stream_filter({"run": run, "v": value}),
            }
            for what, query in queries.items():
                if what == "promql":
                    found = [r["metric"] for r in await promql(session, vm, query)]
                else:
                    found = await logsql(session, vl, query, "1h", len(values) + 10)
                got = sorted((e.get("i"), e.get("v")) for e in found)
                if got != [(str(i), value)]:
                    wrong.append(f"{what} {query!r}: {got[:3]} for value #{i} {value!r}")
    return wrong


NAMES = ["job", "or", "by", "offset", "service.name", "a b", 'x"} or up{y="', "é", "a-b", "1x"]


async def _label_names(config: SentioConfig) -> list[str]:
    """Store one series per odd label name; return what selecting each by name got wrong."""
    vm = config.stack.url("victoriametrics")
    run = uuid.uuid4().hex[:8]
    now_ms = int(time.time() * 1000)
    lines = "\n".join(
        json.dumps({"metric": {"__name__": "sentio_fuzz_name", "run": run, name: "v", "i": str(i)},
                    "values": [i], "timestamps": [now_ms]})
        for i, name in enumerate(NAMES)
    )  # fmt: skip
    wrong: list[str] = []
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{vm}/api/v1/import", data=lines.encode()) as resp:
            assert resp.status == 204, await resp.text()
        await session.get(f"{vm}/internal/force_flush")

        async def all_in() -> bool | None:
            got = await promql(session, vm, f"count({selector('sentio_fuzz_name', {'run': run})})")
            return True if got and int(got[0]["value"][1]) == len(NAMES) else None

        await poll(all_in, 60, f"{len(NAMES)} series")
        for i, name in enumerate(NAMES):
            query = selector("sentio_fuzz_name", {"run": run, name: "v"})
            got = [r["metric"].get("i") for r in await promql(session, vm, query)]
            if got != [str(i)]:
                wrong.append(f"{query!r}: {got}")
    return wrong


def test_every_label_name_selects_exactly_its_series(vm_and_vl: SentioConfig) -> None:
    wrong = asyncio.run(_label_names(vm_and_vl))
    assert not wrong, "\n".join(wrong)


@pytest.mark.timeout(300)
def test_every_quoted_value_selects_exactly_its_own_entries(vm_and_vl: SentioConfig) -> None:
    values = drawn()
    assert len(values) > len(ADVERSARIAL)
    wrong = asyncio.run(_round_trip(vm_and_vl, values))
    assert not wrong, "\n".join(wrong[:10])
