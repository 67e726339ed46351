"""The VictoriaLogs HTTP API the Loki API reads through: records streamed line by line, stats."""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp

from sentio.errors import LogQLError, StackError

log = logging.getLogger(__name__)
JSON = dict[str, Any]
# Field names older than this are refreshed in the background (queries never wait for it),
# looking only at records since the last lookup, less an overlap for records that come late;
# the whole window is looked at again every FIELDS_FULL_S, which forgets names gone from it.
FIELDS_TTL_S = 10.0
FIELDS_FULL_S = 600.0
FIELDS_WINDOW_NS = 86400 * 1_000_000_000
FIELDS_OVERLAP_NS = 60 * 1_000_000_000


class VictoriaLogsQueryError(LogQLError):
    """Raise when VictoriaLogs refuses a translated query (HTTP 400): the query is at fault."""


def rfc3339(ns: int) -> str:
    """Return a nanosecond Unix time as RFC 3339 with nanoseconds, which VictoriaLogs reads."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{base}.{frac:09d}Z"


def parse_rfc3339_ns(text: str) -> int:
    """Return the nanosecond Unix time of VictoriaLogs' ``_time`` (RFC 3339, up to 9 digits)."""
    head, _, frac = text.rstrip("Z").partition(".")
    return _seconds(head) * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


_SECONDS: dict[str, int] = {}


def _seconds(head: str) -> int:
    secs = _SECONDS.get(head)
    if secs is None:
        if len(head) != 19 or head[4] != "-" or head[10] != "T":
            raise ValueError(f"{head!r} is not an RFC 3339 time VictoriaLogs writes")
        parts = (head[0:4], head[5:7], head[8:10], head[11:13], head[14:16], head[17:19])
        secs = calendar.timegm((*(int(p) for p in parts), 0, 0, 0))
        if len(_SECONDS) >= 4096:  # consecutive records mostly share their second
            _SECONDS.clear()
        _SECONDS[head] = secs
    return secs


def _records(data: bytes) -> list[JSON]:
    """Return the JSON objects of newline-separated lines, parsed in one call."""
    lines = [line for line in data.split(b"\n") if line.strip()]
    if not lines:
        return []
    records: list[JSON] = json.loads(b"[" + b",".join(lines) + b"]")
    return records


class VictoriaLogs:
    """Client of one VictoriaLogs' select API."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self._fields: tuple[float, list[str]] | None = None
        self._refresh: asyncio.Task[list[str]] | None = None
        self._full_at = 0.0  # monotonic time of the last lookup over the whole window
        self._since_ns = 0  # Unix time the last lookup reached

    async def _error(self, resp: aiohttp.ClientResponse, path: str) -> Exception:
        body = (await resp.text())[:500]
        if resp.status == 400:
            return VictoriaLogsQueryError(f"VictoriaLogs refused the translated query: {body}")
        return StackError(f"VictoriaLogs {path}: HTTP {resp.status}: {body}")

    async def lines(self, query: str, start: int, end: int) -> AsyncGenerator[JSON, None]:
        """Yield the records of a LogsQL query as VictoriaLogs streams them."""
        batches = self.batches(query, start, end)
        try:
            async for batch in batches:
                for rec in batch:
                    yield rec
        finally:
            await batches.aclose()

    async def batches(self, query: str, start: int, end: int) -> AsyncGenerator[list[JSON], None]:
        """Yield the records of a LogsQL query a received chunk at a time, as they arrive."""
        path = "/select/logsql/query"
        params = {"query": query, "start": rfc3339(start), "end": rfc3339(end)}
        try:
            async with self.session.post(self.base + path, data=params) as resp:
                if resp.status != 200:
                    raise await self._error(resp, path)
                buf = b""
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    cut = buf.rfind(b"\n")
                    if cut < 0:
                        continue
                    complete, buf = buf[:cut], buf[cut + 1 :]
                    batch = _records(complete)
                    if batch:
                        yield batch
                batch = _records(buf)
                if batch:
                    yield batch
        except aiohttp.ClientError as exc:
            raise StackError(f"VictoriaLogs {path}: {exc}") from exc

    async def get(self, path: str, params: dict[str, str]) -> Any:
        """Return the JSON answer of one select endpoint."""
        try:
            async with self.session.post(self.base + path, data=params) as resp:
                if resp.status != 200:
                    raise await self._error(resp, path)
                return await resp.json(content_type=None)
        except aiohttp.ClientError as exc:
            raise StackError(f"VictoriaLogs {path}: {exc}") from exc

    async def stats_range(
        self, query: str, start: int, end: int, step_ns: int, offset_ns: int
    ) -> list[JSON]:
        """Return the matrix of ``stats_query_range``."""
        params = {
            "query": query,
            "start": rfc3339(start),
            "end": rfc3339(end),
            "step": f"{step_ns}ns",
            "offset": f"{offset_ns}ns",
        }
        data = await self.get("/select/logsql/stats_query_range", params)
        result: list[JSON] = data["data"]["result"]
        return result

    async def stats_instant(self, query: str, start: int, end: int) -> list[JSON]:
        """Return the vector of ``stats_query`` over [start, end]."""
        params = {
            "query": query,
            "start": rfc3339(start),
            "end": rfc3339(end),
            "time": rfc3339(end),
        }
        data = await self.get("/select/logsql/stats_query", params)
        result: list[JSON] = data["data"]["result"]
        return result

    async def field_names(
        self, query: str = "*", start: int | None = None, end: int | None = None
    ) -> list[str]:
        """Return the field names of the records a query matches."""
        params = {"query": query}
        if start is not None and end is not None:
            params.update(start=rfc3339(start), end=rfc3339(end))
        data = await self.get("/select/logsql/field_names", params)
        return [str(v["value"]) for v in data.get("values", [])]

    async def known_fields(self) -> list[str]:
        """Return every field name of the last day; a stale list is refreshed in the background.

        Only the first call waits for VictoriaLogs; later ones get the list at hand, at most
        ``FIELDS_TTL_S`` plus one round trip old, and the same list object until it changes.
        A refresh looks up the names of the records since the last one (less a minute for
        late records) and adds them; every ``FIELDS_FULL_S`` it looks at the whole day again.
        """
        if self._fields is None:
            return await self._fetch_fields()
        stamp, names = self._fields
        if time.monotonic() - stamp >= FIELDS_TTL_S and self._refresh is None:
            self._refresh = asyncio.ensure_future(self._fetch_fields())
            self._refresh.add_done_callback(self._refreshed)
        return names

    async def _fetch_fields(self) -> list[str]:
        stamp = time.monotonic()
        end = time.time_ns()
        if self._fields is None or stamp - self._full_at >= FIELDS_FULL_S:
            names = await self.field_names("*", end - FIELDS_WINDOW_NS, end)
            self._full_at = stamp
        else:
            old = self._fields[1]
            recent = await self.field_names("*", self._since_ns - FIELDS_OVERLAP_NS, end)
            seen = set(old)
            names = [*old, *(n for n in dict.fromkeys(recent) if n not in seen)]
        if self._fields is not None and self._fields[1] == names:
            names = self._fields[1]  # unchanged: callers may key caches on the list's identity
        self._fields = (stamp, names)
        self._since_ns = end
        return names

    def _refreshed(self, task: asyncio.Task[list[str]]) -> None:
        self._refresh = None
        if not task.cancelled() and task.exception() is not None:
            log.warning("VictoriaLogs field names not refreshed: %s", task.exception())

    async def close(self) -> None:
        """Cancel a background refresh still running."""
        if self._refresh is not None:
            self._refresh.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._refresh

    async def field_values(
        self, field: str, query: str, start: int, end: int, limit: int = 0
    ) -> list[str]:
        """Return the values of one field among the records a query matches."""
        params = {"query": query, "field": field, "start": rfc3339(start), "end": rfc3339(end)}
        if limit:
            params["limit"] = str(limit)
        data = await self.get("/select/logsql/field_values", params)
        return [str(v["value"]) for v in data.get("values", [])]

    async def streams(self, query: str, start: int, end: int) -> list[str]:
        """Return the ``_stream`` values of the records a query matches."""
        params = {"query": query, "start": rfc3339(start), "end": rfc3339(end)}
        data = await self.get("/select/logsql/streams", params)
        return [str(v["value"]) for v in data.get("values", [])]

    async def healthy(self) -> bool:
        """Return whether VictoriaLogs answers its health check."""
        try:
            async with self.session.get(self.base + "/health") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    async def tail(self, query: str) -> AsyncIterator[JSON]:
        """Yield records as they arrive, from VictoriaLogs' live tail endpoint."""
        path = "/select/logsql/tail"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=None)
        try:
            async with self.session.post(
                self.base + path, data={"query": query}, timeout=timeout
            ) as resp:
                if resp.status != 200:
                    raise await self._error(resp, path)
                async for line in resp.content:
                    if line.strip():
                        yield json.loads(line)
        except aiohttp.ClientError as exc:
            raise StackError(f"VictoriaLogs {path}: {exc}") from exc
