"""Read back from the backends: PromQL, LogsQL, traces by id, alerts."""

from __future__ import annotations

import json
from typing import Any

import aiohttp

from sentio.config import StackConfig
from sentio.errors import StackError

JSON = dict[str, Any]


class Backends:
    """Query URLs of one stack's backends."""

    def __init__(self, stack: StackConfig) -> None:
        self.vm = stack.url("victoriametrics")
        self.vl = stack.url("victorialogs")
        self.jaeger = stack.url("jaeger")
        self.vmalert = stack.url("vmalert")
        self.vmalert_logs = stack.url("vmalert-logs")
        self.alertmanager = stack.url("alertmanager")


async def _get(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> str:
    try:
        async with session.get(url, params=params) as resp:
            body = await resp.text()
            if resp.status != 200:
                raise StackError(f"GET {url} {params}: HTTP {resp.status}: {body[:300]}")
            return body
    except aiohttp.ClientError as exc:
        raise StackError(f"GET {url}: {exc}") from exc


async def _get_json(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> Any:
    body = await _get(session, url, params)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise StackError(f"GET {url}: not JSON: {body[:200]!r}") from exc


async def promql(session: aiohttp.ClientSession, base: str, query: str) -> list[JSON]:
    """Run an instant PromQL query on VictoriaMetrics; return the result vector."""
    data = await _get_json(session, f"{base}/api/v1/query", {"query": query})
    result: list[JSON] = data["data"]["result"]
    return result


async def logsql(
    session: aiohttp.ClientSession,
    base: str,
    query: str,
    since: str = "1h",
    limit: int = 1000,
) -> list[JSON]:
    """Run a LogsQL query over the last ``since`` on VictoriaLogs; return the log entries."""
    params = {"query": f"_time:{since} {query}", "limit": str(limit)}
    body = await _get(session, f"{base}/select/logsql/query", params)
    try:
        return [json.loads(line) for line in body.splitlines() if line.strip()]
    except ValueError as exc:
        raise StackError(f"LogsQL {query!r}: a line is not JSON: {body[:200]!r}") from exc


async def trace(session: aiohttp.ClientSession, base: str, trace_id: str) -> JSON | None:
    """Return the trace with hex id ``trace_id`` from Jaeger's API, or None while it is unknown."""
    url = f"{base}/api/traces/{trace_id}"
    try:
        async with session.get(url, headers={"Accept": "application/json"}) as resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise StackError(f"GET {url}: HTTP {resp.status}: {(await resp.text())[:300]}")
            data: JSON = await resp.json(content_type=None)
    except aiohttp.ClientError as exc:
        raise StackError(f"GET {url}: {exc}") from exc
    traces: list[JSON] = data.get("data") or []
    return traces[0] if traces else None


async def alerts(session: aiohttp.ClientSession, base: str) -> list[JSON]:
    """Return the alerts Alertmanager holds (API v2)."""
    result: list[JSON] = await _get_json(session, f"{base}/api/v2/alerts", {})
    return result
