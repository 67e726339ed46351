"""Read series from VictoriaMetrics with PromQL `query_range`, chunked to its limits."""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import aiohttp
import numpy as np
import numpy.typing as npt
from sentio.ai_engine.errors import AiEngineError
from sentio.ai_engine.samples import samples

from sentio.redact import redact
from sentio.stack.query import label_name, quote

FloatArray = npt.NDArray[np.float64]
LabelSet = tuple[tuple[str, str], ...]
Item = dict[str, Any]
RESULT = b'"result":['
METRIC = b'{"metric":'
VALUES = b',"values":['
SUCCESS = re.compile(rb'"status"\s*:\s*"success"')
CHUNK = 1 << 18


class ReaderError(AiEngineError):
    """Raise when VictoriaMetrics rejects a query or cannot be reached."""


@dataclass(frozen=True)
class Series:
    """One series on a regular grid: ``values[i]`` is at ``start + i * step`` (NaN = no sample)."""

    labels: dict[str, str]
    start: int
    step: int
    values: FloatArray

    @property
    def timestamps(self) -> npt.NDArray[np.int64]:
        """Return the grid's timestamps in seconds."""
        return self.start + self.step * np.arange(len(self.values), dtype=np.int64)

    def key(self) -> LabelSet:
        """Return the labels as a sorted, hashable tuple."""
        return self._key

    @cached_property
    def _key(self) -> LabelSet:
        return tuple(sorted(self.labels.items()))


@dataclass(frozen=True)
class Limits:
    """VictoriaMetrics' per-query limits to stay under."""

    max_points_per_series: int = 10_000
    max_series_per_query: int = 10_000
    max_points_per_page: int = 1_000_000
    max_series_per_page: int = 1_000
    max_query_bytes: int = 14_000  # under VictoriaMetrics' -search.maxQueryLen (16 KiB)


def time_chunks(start: int, end: int, step: int, max_points: int) -> list[tuple[int, int]]:
    """Split [start, end] on a ``step`` grid into ranges of at most ``max_points`` points each."""
    if end < start:
        raise ReaderError(f"query range ends ({end}) before it starts ({start})")
    points = (end - start) // step + 1
    span = max_points * step
    chunks = []
    for index in range(math.ceil(points / max_points)):
        lo = start + index * span
        chunks.append((lo, min(end, lo + span - step)))
    return chunks


def _group(labels: dict[str, str], by: Sequence[str]) -> LabelSet:
    return tuple((name, labels.get(name, "")) for name in by)


def _labels(item: Item) -> dict[str, str]:
    return {str(k): str(v) for k, v in cast(dict[str, Any], item["metric"]).items()}


def _fill(grid: FloatArray, item: Item, start: int, step: int) -> None:
    """Put a result item's samples on ``grid``, whose first cell is at ``start``."""
    if "ts" in item:
        ts, values = cast(FloatArray, item["ts"]), cast(FloatArray, item["v"])
    else:
        pairs = cast(list[tuple[float, str]], item["values"])
        ts = np.fromiter((p[0] for p in pairs), np.float64, len(pairs))
        values = np.fromiter((float(p[1]) for p in pairs), np.float64, len(pairs))
    if len(ts):
        grid[(ts.astype(np.int64) - start) // step] = values


def _error_detail(body: str) -> object:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:300]
    return parsed.get("error", parsed) if isinstance(parsed, dict) else parsed


async def result_items(chunks: AsyncIterator[bytes]) -> AsyncIterator[Item]:
    """Yield the items of a `query_range` response's ``data.result`` one by one as it streams.

    Only the item being parsed and one read buffer are held, never the whole response. An item
    laid out as VictoriaMetrics writes it (``{"metric":{…},"values":[[t,"v"],…]}``) comes with its
    samples already as arrays (``"ts"``, ``"v"``), parsed by numpy; any other is decoded by
    ``json``.
    """
    buf = b""

    async def more() -> bytes:
        return await anext(chunks, b"")

    while (found := buf.find(RESULT)) < 0:
        chunk = await more()
        if not chunk:  # not laid out as VictoriaMetrics does: parse it whole
            text = buf.decode(errors="replace")
            body = json.loads(text) if text.strip() else {}
            if not isinstance(body, dict) or body.get("status") != "success":
                raise ReaderError(f"not a successful query_range: {_error_detail(text)}")
            for item in cast(list[Item], (body.get("data") or {}).get("result") or []):
                yield item
            return
        buf += chunk
    if not SUCCESS.search(buf, 0, found):
        raise ReaderError(f"not a successful query_range: {buf[:300].decode(errors='replace')}")
    pos = found + len(RESULT)
    while True:
        while pos < len(buf) and buf[pos] in b" \t\r\n,":
            pos += 1
        if pos < len(buf) and buf[pos] == ord("]"):
            return
        end = _item_end(buf, pos)
        if end is not None:
            yield _item(buf, pos, end)
            pos = end
            continue
        chunk = await more()
        if not chunk:
            raise ReaderError("the query_range response ended inside its result")
        buf = buf[pos:] + chunk
        pos = 0


def _item_end(buf: bytes, pos: int) -> int | None:
    """Return where the result item at ``pos`` ends, or None while it is not all in."""
    if buf.startswith(METRIC, pos):
        values = buf.find(VALUES, pos)
        first = values + len(VALUES)
        if values < 0 or len(buf) < first + 2:
            return None
        if buf[first] == ord("]"):  # no samples
            return first + 2 if buf[first + 1] == ord("}") else None
        close = buf.find(b"]]}", first)
        return None if close < 0 else close + 3
    depth, quoted, escaped = 0, False, False  # any other layout: match its braces
    for i in range(pos, len(buf)):
        c = buf[i]
        if quoted:
            escaped, quoted = (False, True) if escaped else (c == 92, c != 34)
        elif c == 34:
            quoted = True
        elif c in b"{[":
            depth += 1
        elif c in b"}]":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


def _item(buf: bytes, pos: int, end: int) -> Item:
    """Decode one result item; VictoriaMetrics' layout has its samples parsed by numpy."""
    if buf.startswith(METRIC, pos):
        values = buf.find(VALUES, pos)
        try:
            metric = json.loads(buf[pos + len(METRIC) : values])
            fast = samples(buf[values + len(VALUES) : end - 2])
            if fast is not None and isinstance(metric, dict):
                return {"metric": metric, "ts": fast[0], "v": fast[1]}
            numbers = np.fromstring(
                buf[values + len(VALUES) : end - 3].translate(None, b'[]"'),
                dtype=np.float64,
                sep=",",
            )
        except ValueError:
            pass
        else:
            if isinstance(metric, dict) and len(numbers) % 2 == 0:
                return {"metric": metric, "ts": numbers[0::2], "v": numbers[1::2]}
    try:
        return cast(Item, json.loads(buf[pos:end]))
    except ValueError as exc:
        raise ReaderError(f"a query_range result item is not JSON: {exc}") from exc


NAME = r"[A-Za-z_:][A-Za-z0-9_:.]*"
STRING = r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'
MATCHER = rf"\s*[A-Za-z_][A-Za-z0-9_.]*\s*(?:=~|!~|!=|=)\s*(?:{STRING})\s*"
# A plain series selector: `name`, `name{matchers}` or `{matchers}` (no `or` inside the braces).
SELECTOR = re.compile(
    rf"^\s*(?P<name>{NAME})?\s*(?:\{{(?P<body>(?:{MATCHER}(?:,{MATCHER})*)?,?\s*)\}})?\s*$"
)
RE2_SPECIAL = re.compile(r"([\\.+*?()|\[\]{}^$])")
WRAPPER_BYTES = 64  # what a page query adds besides its matchers (label names, quotes, anchors)


@dataclass
class ReadCounts:
    """What a reader asked of VictoriaMetrics: requests, response bytes, series, peak held."""

    requests: int = 0
    bytes: int = 0
    series: int = 0  # result items received, in every chunk
    peak_held: int = 0  # the most series grids one page held at once


@dataclass(frozen=True)
class Page:
    """One page of listed series and the query that reads exactly them (and maybe neighbours)."""

    query: str
    labels: dict[LabelSet, dict[str, str]]


Keep = Callable[[dict[str, str]], bool]


def _literal(text: str) -> str:
    """Return ``text`` as a double-quoted PromQL string."""
    return quote(text)


def _alternation(values: Sequence[str]) -> str:
    return "|".join(RE2_SPECIAL.sub(r"\\\1", v) for v in sorted(values))


def narrowed(query: str, matchers: dict[str, set[str]]) -> str:
    """Return ``query`` restricted to series whose ``label`` is one of its values, per label.

    A series selector gets the matchers inside its braces (VictoriaMetrics' index does the
    work); any other expression is wrapped in MetricsQL's `label_match`.
    """
    if not matchers:
        return query
    found = SELECTOR.match(query)
    if found:
        body = (found["body"] or "").strip().rstrip(",").strip()
        extra = ", ".join(
            f"{label_name(k)}=~{_literal(_alternation(list(v)))}" for k, v in matchers.items()
        )
        return f"{found['name'] or ''}{{{body + ', ' if body else ''}{extra}}}"
    for label, values in matchers.items():
        anchored = f"^(?:{_alternation(list(values))})$"
        query = f"label_match({query}, {_literal(label)}, {_literal(anchored)})"
    return query


def _widest(series: Sequence[dict[str, str]]) -> list[str]:
    """Return the one label with the most distinct values among ``series`` (none if no labels)."""
    values: dict[str, set[str]] = {}
    for labels in series:
        for name, value in labels.items():
            values.setdefault(name, set()).add(value)
    if not values:
        return []
    return [max(sorted(values), key=lambda name: len(values[name]))]


def plan(
    query: str, listed: Sequence[dict[str, str]], group_by: Sequence[str], keep: Keep | None,
    per_page: int, max_query_bytes: int,
) -> list[Page]:  # fmt: skip
    """Split the listed series that ``keep`` keeps into pages of whole groups, with their queries.

    A page has up to ``per_page`` series (more only for one group that large) and a query of
    up to ``max_query_bytes`` (VictoriaMetrics' `-search.maxQueryLen` is 16 KiB by default).
    """
    mine = [labels for labels in listed if keep is None or keep(labels)]
    by = list(group_by) or _widest(mine)
    groups: dict[LabelSet, dict[LabelSet, dict[str, str]]] = {}
    for labels in mine:
        groups.setdefault(_group(labels, by), {})[tuple(sorted(labels.items()))] = labels
    budget = max(1, max_query_bytes - len(query) - WRAPPER_BYTES * max(1, len(by)))
    pages: list[tuple[dict[LabelSet, dict[str, str]], dict[str, set[str]]]] = []
    size = 0
    for gkey in sorted(groups):
        members = groups[gkey]
        cost = sum(len(_alternation([v])) + 1 for _, v in gkey)
        if not pages or len(pages[-1][0]) + len(members) > per_page or size + cost > budget:
            pages.append(({}, {name: set() for name in by}))
            size = 0
        pages[-1][0].update(sorted(members.items()))
        for name, value in gkey:
            pages[-1][1][name].add(value)
        size += cost
    if len(pages) == 1 and keep is None:
        return [Page(query, pages[0][0])]  # the whole query is one page: no matchers needed
    return [Page(narrowed(query, matchers), labels) for labels, matchers in pages]


class PromReader:
    """Run `query_range` against VictoriaMetrics' Prometheus API, a page of series at a time."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, limits: Limits | None = None,
        compress: bool = False,
    ) -> None:  # fmt: skip
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.limits = limits or Limits()
        self.counts = ReadCounts()
        # Uncompressed by default: gzip costs both ends CPU, and a fit reads gigabytes of JSON.
        self.headers = {"Accept-Encoding": "gzip" if compress else "identity"}

    async def _post(
        self, path: str, params: dict[str, str], what: str
    ) -> AsyncGenerator[bytes, None]:
        """Yield the body of one successful POST to VictoriaMetrics, chunk by chunk, counted."""
        url = f"{self.base_url}{path}"
        self.counts.requests += 1
        try:
            async with self.session.post(url, data=params, headers=self.headers) as resp:
                if resp.status != 200:
                    body = await resp.text()
                    self.counts.bytes += len(body)
                    raise ReaderError(
                        redact(f"{what} at {url} failed: HTTP {resp.status}: {_error_detail(body)}")
                    )
                while chunk := await resp.content.read(CHUNK):
                    self.counts.bytes += len(chunk)
                    yield chunk
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ReaderError(redact(f"{what} at {url}: {exc}")) from exc

    async def _items(self, query: str, start: int, end: int, step: int) -> AsyncIterator[Item]:
        """Yield the result items of one `query_range` as its response streams in."""
        params = {"query": query, "start": str(start), "end": str(end), "step": f"{step}s"}
        body = self._post("/api/v1/query_range", params, f"query_range {query!r}")
        async with contextlib.aclosing(body):
            async for item in result_items(body):
                self.counts.series += 1
                yield item

    async def listing(self, query: str, start: int, end: int, step: int) -> list[dict[str, str]]:
        """Return the label sets of the series ``query`` has over [start, end], no samples.

        A series selector is listed by `/api/v1/series` (the index alone); any other
        expression by one instant query of its last value over the range.
        """
        if SELECTOR.match(query):
            params = {"match[]": query, "start": str(start), "end": str(end)}
            path, what = "/api/v1/series", f"series {query!r}"
        else:
            expr = f"last_over_time(({query})[{end - start + step}s:{step}s]) keep_metric_names"
            params = {"query": expr, "time": str(end)}
            path, what = "/api/v1/query", f"series of {query!r}"
        body = b"".join([chunk async for chunk in self._post(path, params, what)])
        text = body.decode(errors="replace")
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict) or parsed.get("status") != "success":
            raise ReaderError(
                redact(f"{what} at {self.base_url}{path}: not a success: {_error_detail(text)}")
            )
        data = parsed.get("data")
        rows = data.get("result", []) if isinstance(data, dict) else data
        if path == "/api/v1/query":
            rows = [row.get("metric", {}) for row in cast(list[Item], rows or [])]
        return [{str(k): str(v) for k, v in row.items()} for row in cast(list[Item], rows or [])]

    async def _read_page(
        self, page: Page, start: int, end: int, step: int, length: int
    ) -> list[Series]:
        """Read one page's series over [start, end] in time chunks; return those with samples."""
        grids: dict[LabelSet, FloatArray] = {}
        for lo, hi in time_chunks(start, end, step, self.limits.max_points_per_series):
            async for item in self._items(page.query, lo, hi, step):
                key = tuple(sorted(_labels(item).items()))
                if key not in page.labels:
                    continue  # a matcher's neighbour, or a series newer than the listing
                grid = grids.get(key)
                if grid is None:
                    grid = grids[key] = np.full(length, np.nan)
                    self.counts.peak_held = max(self.counts.peak_held, len(grids))
                _fill(grid, item, start, step)
        return [
            Series(page.labels[key], start, step, grids[key])
            for key in page.labels
            if key in grids and not np.isnan(grids[key]).all()
        ]

    async def _streamed(
        self, query: str, listed: Sequence[dict[str, str]], start: int, end: int, step: int,
        group_by: Sequence[str], per_page: int,
    ) -> AsyncIterator[list[Series]]:  # fmt: skip
        """Yield the listed series in pages of one `query_range`, sorted by group, as it streams.

        For a reader that keeps every series of a range that fits one query: no matchers, one
        request, and still only a page of grids held.
        """
        length = (end - start) // step + 1
        wanted = {tuple(sorted(labels.items())) for labels in listed}
        ordered = query
        if group_by:
            ordered = f"sort_by_label({query}, {', '.join(_literal(n) for n in group_by)})"
        page: list[Series] = []
        last: LabelSet | None = None
        async for item in self._items(ordered, start, end, step):
            labels = _labels(item)
            if tuple(sorted(labels.items())) not in wanted:
                continue  # newer than the listing: the next cycle lists it
            gkey = _group(labels, group_by)
            if len(page) >= per_page and (not group_by or gkey != last):
                yield page
                page = []
            grid = np.full(length, np.nan)
            _fill(grid, item, start, step)
            page.append(Series(labels, start, step, grid))
            self.counts.peak_held = max(self.counts.peak_held, len(page))
            last = gkey
        if page:
            yield page

    async def pages(
        self, query: str, start: int, end: int, step: int, group_by: Sequence[str] = (),
        keep: Keep | None = None,
    ) -> AsyncIterator[list[Series]]:  # fmt: skip
        """Yield the series of ``query`` over [start, end] on a ``step``-second grid, by pages.

        The series are listed first (labels only). A reader that keeps them all, over a range
        that fits one query, reads them in one `query_range` sorted by group and parsed as it
        streams; otherwise those ``keep`` refuses are dropped and the rest are read a page at a
        time by matchers naming the page's groups: a page holds up to
        ``max_series_per_page`` series and about ``max_points_per_page`` points, every series of
        a group (the values of ``group_by``) lands in one page, and a range longer than
        ``max_points_per_series`` is read in time chunks of that page only. Memory is bounded by
        a page on every path, and a worker reads only the series it keeps.
        """
        start, end = start - start % step, end - end % step
        if end < start:
            raise ReaderError(f"query range ends ({end}) before it starts ({start})")
        length = (end - start) // step + 1
        limits = self.limits
        per_page = max(
            1,
            min(
                limits.max_series_per_query,
                limits.max_series_per_page,
                limits.max_points_per_page // length,
            ),
        )
        listed = await self.listing(query, start, end, step)
        one_read = length <= limits.max_points_per_series
        if keep is None and one_read and len(listed) <= limits.max_series_per_query:
            async for series in self._streamed(query, listed, start, end, step, group_by, per_page):
                yield series
            return
        for page in plan(query, listed, group_by, keep, per_page, limits.max_query_bytes):
            series = await self._read_page(page, start, end, step, length)
            if series:
                yield series

    async def read(self, query: str, start: int, end: int, step: int) -> list[Series]:
        """Return every series of ``query`` over [start, end] on a ``step``-second grid."""
        out = [s async for page in self.pages(query, start, end, step) for s in page]
        return sorted(out, key=Series.key)


def group(series: Sequence[Series], by: Sequence[str]) -> dict[LabelSet, list[Series]]:
    """Group series by the values of the labels ``by`` (for per-device multivariate frames)."""
    groups: dict[LabelSet, list[Series]] = {}
    for s in series:
        key = tuple((name, s.labels.get(name, "")) for name in by)
        groups.setdefault(key, []).append(s)
    return groups
