"""Read back from the backends: PromQL, LogsQL, traces by id, alerts.

A value that goes into a query (a service name from the config, an id, a label name read back)
goes through ``quote`` and the builders below, never into an f-string as it is: quoted, it is
one string literal whatever it holds, so it cannot end the selector and add to the query.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from sentio.config import StackConfig
from sentio.errors import StackError

JSON = dict[str, Any]
PROMQL_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:.]*")
LOGSQL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def quote(value: str) -> str:
    """Return ``value`` as one double-quoted string literal of PromQL (MetricsQL) and LogsQL.

    Both read such a literal as Go's ``strconv.Unquote`` does, and the escapes JSON writes are
    a subset of Go's. Raise ValueError for text that is not valid Unicode (a lone surrogate),
    which no request could carry.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{value!r} is not valid Unicode text: {exc.reason}") from None
    return json.dumps(value, ensure_ascii=False)


def _name(name: str, pattern: re.Pattern[str], language: str) -> str:
    if not pattern.fullmatch(name):
        raise ValueError(f"{name!r} is not a {language} name (expected {pattern.pattern})")
    return name


def label_name(name: str) -> str:
    """Return a label name for a matcher: as it is when plain, else quoted (UTF-8 label names)."""
    return name if PROMQL_NAME.fullmatch(name) else quote(name)


def selector(metric: str, labels: Mapping[str, str]) -> str:
    """Return the PromQL selector ``metric{name="value", ...}`` (``metric`` may be empty)."""
    if metric:
        _name(metric, PROMQL_NAME, "PromQL metric")
    matchers = ", ".join(f"{label_name(k)}={quote(v)}" for k, v in labels.items())
    return f"{metric}{{{matchers}}}"


def stream_filter(fields: Mapping[str, str]) -> str:
    """Return the LogsQL stream filter ``{field="value", ...}``."""
    matchers = ", ".join(
        f"{_name(k, LOGSQL_NAME, 'LogsQL stream field')}={quote(v)}" for k, v in fields.items()
    )
    return f"{{{matchers}}}"


def exact(field: str, value: str) -> str:
    """Return the LogsQL filter matching records whose ``field`` is exactly ``value``."""
    name = field if LOGSQL_NAME.fullmatch(field) else quote(field)
    return f"{name}:={quote(value)}"


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
        # JSON lines end at "\n" only: str.splitlines would also cut at \x1c, \x85 or \u2028
        # inside a value, which VictoriaLogs writes as they are.
        return [json.loads(line) for line in body.split("\n") if line.strip()]
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
