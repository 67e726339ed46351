"""Read series from VictoriaMetrics with PromQL `query_range`, chunked to its limits."""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, cast

import aiohttp
import numpy as np
import numpy.typing as npt
from sentio.ai_engine.errors import AiEngineError

from sentio.redact import redact

FloatArray = npt.NDArray[np.float64]
LabelSet = tuple[tuple[str, str], ...]
Item = dict[str, Any]
RESULT = '"result":['
SUCCESS = re.compile(r'"status"\s*:\s*"success"')
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
    pairs = cast(list[tuple[float, str]], item["values"])
    if pairs:
        ts = np.fromiter((p[0] for p in pairs), np.float64, len(pairs))
        values = np.fromiter((float(p[1]) for p in pairs), np.float64, len(pairs))
        grid[(ts.astype(np.int64) - start) // step] = values


def _error_detail(body: str) -> object:
    try:
        parsed = json.loads(body)
    except ValueError:
        return body[:300]
    return parsed.get("error", parsed) if isinstance(parsed, dict) else parsed


async def result_items(content: aiohttp.StreamReader) -> AsyncIterator[Item]:
    """Yield the items of a `query_range` response's ``data.result`` one by one as it streams.

    Only the item being parsed and one read buffer are held, never the whole response.
    """
    decoder = json.JSONDecoder()
    text = codecs.getincrementaldecoder("utf-8")()
    buf = ""
    while (found := buf.find(RESULT)) < 0:
        chunk = await content.read(CHUNK)
        if not chunk:  # not laid out as VictoriaMetrics does: parse it whole
            body = json.loads(buf) if buf.strip() else {}
            if not isinstance(body, dict) or body.get("status") != "success":
                raise ReaderError(f"not a successful query_range: {_error_detail(buf)}")
            for item in cast(list[Item], (body.get("data") or {}).get("result") or []):
                yield item
            return
        buf += text.decode(chunk)
    if not SUCCESS.search(buf, 0, found):
        raise ReaderError(f"not a successful query_range: {buf[:300]}")
    pos = found + len(RESULT)
    while True:
        while pos < len(buf) and buf[pos] in " \t\r\n,":
            pos += 1
        if pos < len(buf) and buf[pos] == "]":
            return
        # An item is attempted only once its closing brackets are in: a partial one fails to
        # parse and is tried again with more data.
        if pos < len(buf) and buf.find("]}", pos) >= 0:
            try:
                item, pos = decoder.raw_decode(buf, pos)
            except json.JSONDecodeError:
                pass
            else:
                yield cast(Item, item)
                continue
        chunk = await content.read(CHUNK)
        if not chunk:
            raise ReaderError("the query_range response ended inside its result")
        buf = buf[pos:] + text.decode(chunk)
        pos = 0


class PromReader:
    """Run `query_range` against VictoriaMetrics' Prometheus API, a page of series at a time."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, limits: Limits | None = None
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.limits = limits or Limits()

    async def _items(self, query: str, start: int, end: int, step: int) -> AsyncIterator[Item]:
        """Yield the result items of one `query_range` as its response streams in."""
        url = f"{self.base_url}/api/v1/query_range"
        params = {"query": query, "start": str(start), "end": str(end), "step": f"{step}s"}
        try:
            async with self.session.post(url, data=params) as resp:
                if resp.status != 200:
                    raise ReaderError(
                        redact(
                            f"query_range {query!r} at {url} failed: HTTP {resp.status}: "
                            f"{_error_detail(await resp.text())}"
                        )
                    )
                async for item in result_items(resp.content):
                    yield item
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ReaderError(redact(f"query_range {query!r} at {url}: {exc}")) from exc

    async def _ordered(
        self, query: str, start: int, end: int, step: int, first: Sequence[str] = ()
    ) -> str:
        """Return ``query`` sorted by its label names (``first`` leading), so pages are stable."""
        sample = [
            item
            async for item in self._items(
                f"limit_offset(50, 0, {query})", start, end, end - start + step
            )
        ]
        seen = {str(k) for item in sample for k in cast(dict[str, Any], item["metric"])}
        names = [*first, *sorted(seen - set(first))]
        if not names:
            return query
        return f"sort_by_label({query}, {', '.join(repr(n) for n in names)})"

    async def _streamed(self, query: str, start: int, end: int, step: int) -> AsyncIterator[Series]:
        """Yield each series of a range that fits one query, as the response arrives."""
        length = (end - start) // step + 1
        page = self.limits.max_series_per_query
        offset = 0
        while True:
            count = 0
            async for item in self._items(
                f"limit_offset({page}, {offset}, {query})", start, end, step
            ):
                count += 1
                metric = _labels(item)
                grid = np.full(length, np.nan)
                _fill(grid, item, start, step)
                yield Series(metric, start, step, grid)
            if count < page:
                return
            offset += page

    async def _assembled(
        self, query: str, start: int, end: int, step: int, group_by: Sequence[str] = ()
    ) -> AsyncIterator[Series]:
        """Yield each series of a range longer than one query allows, once all of it is read."""
        length = (end - start) // step + 1
        grids: dict[LabelSet, FloatArray] = {}
        labels: dict[LabelSet, dict[str, str]] = {}
        page = self.limits.max_series_per_query
        for lo, hi in time_chunks(start, end, step, self.limits.max_points_per_series):
            offset = 0
            while True:
                count = 0
                async for item in self._items(
                    f"limit_offset({page}, {offset}, {query})", lo, hi, step
                ):
                    count += 1
                    metric = _labels(item)
                    key = tuple(sorted(metric.items()))
                    grid = grids.get(key)
                    if grid is None:
                        grid = grids[key] = np.full(length, np.nan)
                        labels[key] = metric
                    _fill(grid, item, start, step)
                if count < page:
                    break
                offset += page
        for key in sorted(grids, key=lambda k: (_group(labels[k], group_by), k)):
            yield Series(labels[key], start, step, grids.pop(key))

    async def pages(
        self, query: str, start: int, end: int, step: int, group_by: Sequence[str] = ()
    ) -> AsyncIterator[list[Series]]:
        """Yield the series of ``query`` over [start, end] on a ``step``-second grid, by pages.

        A page holds up to ``max_series_per_page`` series and about ``max_points_per_page``
        points, and every series of a group (the values of ``group_by``) lands in one page. A
        range of up to ``max_points_per_series`` points is read in one query whose response is
        parsed as it streams in, so memory is bounded by a page; a longer range is read in time
        chunks and holds every series' grid (8 bytes a point) until it is complete.
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
        ordered = await self._ordered(query, start, end, step, group_by)
        one_query = length <= limits.max_points_per_series
        if one_query:
            source = self._streamed(ordered, start, end, step)
        else:
            source = self._assembled(ordered, start, end, step, group_by)
        page: list[Series] = []
        last: LabelSet | None = None
        async for series in source:
            gkey = _group(series.labels, group_by)
            if len(page) >= per_page and (not group_by or gkey != last):
                yield page
                page = []
            page.append(series)
            last = gkey
        if page:
            yield page

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
