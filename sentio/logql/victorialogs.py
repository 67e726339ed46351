"""The VictoriaLogs HTTP API the Loki API reads through: records streamed line by line, stats."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp

from sentio.errors import LogQLError, StackError

JSON = dict[str, Any]
FIELDS_TTL_S = 30.0


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
    secs = int(datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp())
    return secs * 1_000_000_000 + int((frac + "000000000")[:9] or 0)


class VictoriaLogs:
    """Client of one VictoriaLogs' select API."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base.rstrip("/")
        self._fields: tuple[float, list[str]] | None = None

    async def _error(self, resp: aiohttp.ClientResponse, path: str) -> Exception:
        body = (await resp.text())[:500]
        if resp.status == 400:
            return VictoriaLogsQueryError(f"VictoriaLogs refused the translated query: {body}")
        return StackError(f"VictoriaLogs {path}: HTTP {resp.status}: {body}")

    async def lines(self, query: str, start: int, end: int) -> AsyncGenerator[JSON, None]:
        """Yield the records of a LogsQL query as VictoriaLogs streams them."""
        path = "/select/logsql/query"
        params = {"query": query, "start": rfc3339(start), "end": rfc3339(end)}
        try:
            async with self.session.post(self.base + path, data=params) as resp:
                if resp.status != 200:
                    raise await self._error(resp, path)
                buf = b""
                async for chunk in resp.content.iter_any():
                    buf += chunk
                    *complete, buf = buf.split(b"\n")
                    for line in complete:
                        if line.strip():
                            yield json.loads(line)
                if buf.strip():
                    yield json.loads(buf)
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
        """Return every field name of the last day, cached for a few seconds."""
        now = time.monotonic()
        if self._fields is not None and now - self._fields[0] < FIELDS_TTL_S:
            return self._fields[1]
        end = time.time_ns()
        names = await self.field_names("*", end - 86400 * 1_000_000_000, end)
        self._fields = (now, names)
        return names

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
