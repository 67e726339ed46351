"""Read series from VictoriaMetrics with PromQL `query_range`, chunked to its limits."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import aiohttp
import numpy as np
import numpy.typing as npt
from sentio.ai_engine.errors import AiEngineError

FloatArray = npt.NDArray[np.float64]
LabelSet = tuple[tuple[str, str], ...]


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
        return tuple(sorted(self.labels.items()))


@dataclass(frozen=True)
class Limits:
    """VictoriaMetrics' per-query limits to stay under."""

    max_points_per_series: int = 10_000
    max_series_per_query: int = 10_000


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


class PromReader:
    """Run `query_range` against VictoriaMetrics' Prometheus API."""

    def __init__(
        self, session: aiohttp.ClientSession, base_url: str, limits: Limits | None = None
    ) -> None:
        self.session = session
        self.base_url = base_url.rstrip("/")
        self.limits = limits or Limits()

    async def _query_range(self, query: str, start: int, end: int, step: int) -> list[Any]:
        url = f"{self.base_url}/api/v1/query_range"
        params = {"query": query, "start": str(start), "end": str(end), "step": f"{step}s"}
        try:
            async with self.session.post(url, data=params) as resp:
                body = await resp.json(content_type=None)
                if resp.status != 200 or body.get("status") != "success":
                    detail = body.get("error") if isinstance(body, dict) else body
                    raise ReaderError(f"query_range {query!r} failed: HTTP {resp.status}: {detail}")
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise ReaderError(f"query_range {query!r} at {url}: {exc}") from exc
        result: list[Any] = body["data"]["result"]
        return result

    async def _ordered(self, query: str, start: int, end: int, step: int) -> str:
        """Return ``query`` sorted by all its label names, so that series pages are stable."""
        sample = await self._query_range(
            f"limit_offset(50, 0, {query})", start, end, end - start + step
        )
        names = sorted({str(k) for item in sample for k in cast(dict[str, Any], item["metric"])})
        if not names:
            return query
        return f"sort_by_label({query}, {', '.join(repr(n) for n in names)})"

    async def read(self, query: str, start: int, end: int, step: int) -> list[Series]:
        """Return every series of ``query`` over [start, end] on a ``step``-second grid."""
        start, end = start - start % step, end - end % step
        length = (end - start) // step + 1
        grids: dict[LabelSet, FloatArray] = {}
        labels: dict[LabelSet, dict[str, str]] = {}
        page = self.limits.max_series_per_query
        ordered = await self._ordered(query, start, end, step)
        for lo, hi in time_chunks(start, end, step, self.limits.max_points_per_series):
            offset = 0
            while True:
                result = await self._query_range(
                    f"limit_offset({page}, {offset}, {ordered})", lo, hi, step
                )
                for item in result:
                    metric = {
                        str(k): str(v) for k, v in cast(dict[str, Any], item["metric"]).items()
                    }
                    key = tuple(sorted(metric.items()))
                    grid = grids.get(key)
                    if grid is None:
                        grid = grids[key] = np.full(length, np.nan)
                        labels[key] = metric
                    pairs = cast(list[tuple[float, str]], item["values"])
                    if pairs:
                        ts = np.fromiter((p[0] for p in pairs), np.float64, len(pairs))
                        grid[(ts.astype(np.int64) - start) // step] = np.array(
                            [p[1] for p in pairs], dtype=np.float64
                        )
                if len(result) < page:
                    break
                offset += page
        return [Series(labels[k], start, step, grids[k]) for k in sorted(grids)]


def group(series: Sequence[Series], by: Sequence[str]) -> dict[LabelSet, list[Series]]:
    """Group series by the values of the labels ``by`` (for per-device multivariate frames)."""
    groups: dict[LabelSet, list[Series]] = {}
    for s in series:
        key = tuple((name, s.labels.get(name, "")) for name in by)
        groups.setdefault(key, []).append(s)
    return groups
