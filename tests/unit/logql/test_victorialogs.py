"""The VictoriaLogs client's time parsing and its field-name cache."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sentio.logql import victorialogs
from sentio.logql.victorialogs import VictoriaLogs, parse_rfc3339_ns, rfc3339


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-03T13:20:00Z",
        "2026-12-03T13:20:00.5Z",
        "2026-12-03T13:20:00.123456789Z",
        "1999-12-31T23:59:59.000000001Z",
        "2028-02-29T00:00:00.01Z",
    ],
)
def test_parse_rfc3339_ns_agrees_with_datetime(text: str) -> None:
    head, _, frac = text.rstrip("Z").partition(".")
    whole = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    want = int(whole.timestamp()) * 1_000_000_000 + int((frac + "0" * 9)[:9])
    assert parse_rfc3339_ns(text) == want
    assert parse_rfc3339_ns(rfc3339(want)) == want


def test_parse_rfc3339_ns_refuses_another_format() -> None:
    with pytest.raises(ValueError, match="not an RFC 3339 time"):
        parse_rfc3339_ns("03/12/2026 13:20:00")


class Counting(VictoriaLogs):
    """A client whose field-name lookups answer from a list and are counted."""

    def __init__(self) -> None:
        super().__init__(None, "http://vl.invalid")  # type: ignore[arg-type]
        self.calls = 0
        self.windows: list[tuple[int | None, int | None]] = []
        self.names = ["a", "b.c"]
        self.gate = asyncio.Event()
        self.gate.set()

    async def field_names(
        self, query: str = "*", start: int | None = None, end: int | None = None
    ) -> list[str]:
        self.calls += 1
        self.windows.append((start, end))
        await self.gate.wait()
        return list(self.names)


async def test_known_fields_are_fetched_once_then_refreshed_in_the_background(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vl = Counting()
    first = await vl.known_fields()
    assert first == ["a", "b.c"] and vl.calls == 1
    assert await vl.known_fields() is first  # within the TTL: no lookup, the same list
    assert vl.calls == 1
    monkeypatch.setattr(victorialogs, "FIELDS_TTL_S", 0.0)
    vl.names = ["a", "b.c", "d.e"]
    vl.gate.clear()  # the refresh waits: the query must not
    stale = await vl.known_fields()
    assert stale is first
    await asyncio.sleep(0)  # let the refresh task start; it then waits on the gate
    assert vl.calls == 2
    assert await vl.known_fields() is first  # still refreshing: the stale list, no new lookup
    await asyncio.sleep(0)
    assert vl.calls == 2
    vl.gate.set()
    refresh = vl._refresh
    assert refresh is not None
    await refresh
    assert await vl.known_fields() == ["a", "b.c", "d.e"]
    await vl.close()


async def test_unchanged_field_names_keep_the_same_list(monkeypatch: pytest.MonkeyPatch) -> None:
    vl = Counting()
    first = await vl.known_fields()
    monkeypatch.setattr(victorialogs, "FIELDS_TTL_S", 0.0)
    await vl.known_fields()
    refresh = vl._refresh
    assert refresh is not None
    await refresh
    assert vl.calls == 2
    assert await vl.known_fields() is first  # callers key caches on the list's identity
    await vl.close()


def test_records_parses_every_nonblank_line_in_one_call() -> None:
    data = b'{"_msg":"a\\nb","x":"1"}\n\n  \n{"_msg":"\xc3\xa9","x":"2"}'
    assert victorialogs._records(data) == [{"_msg": "a\nb", "x": "1"}, {"_msg": "é", "x": "2"}]
    assert victorialogs._records(b"\n \n") == []


async def test_a_refresh_looks_only_at_recent_records_and_adds_their_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vl = Counting()
    await vl.known_fields()
    ((start, end),) = vl.windows
    assert start is not None and end is not None
    assert end - start == victorialogs.FIELDS_WINDOW_NS  # the first lookup: the whole day
    monkeypatch.setattr(victorialogs, "FIELDS_TTL_S", 0.0)
    vl.names = ["x.y", "a"]  # the recent records hold a new name and an old one
    await vl.known_fields()
    refresh = vl._refresh
    assert refresh is not None
    await refresh
    since, _until = vl.windows[1]
    assert since == end - victorialogs.FIELDS_OVERLAP_NS  # from the last lookup, less a minute
    assert await vl.known_fields() == ["a", "b.c", "x.y"]  # the older names kept
    monkeypatch.setattr(victorialogs, "FIELDS_FULL_S", 0.0)
    vl.names = ["x.y"]
    await vl.known_fields()
    refresh = vl._refresh
    assert refresh is not None
    await refresh
    start3, end3 = vl.windows[2]
    assert start3 is not None and end3 is not None
    assert end3 - start3 == victorialogs.FIELDS_WINDOW_NS  # the whole day again: names forgotten
    assert await vl.known_fields() == ["x.y"]
    await vl.close()
