"""Read back from the backends: PromQL, LogQL and traces by id."""

from __future__ import annotations

import time
from typing import Any

import aiohttp

from sentio.config import StackConfig
from sentio.errors import StackError

JSON = dict[str, Any]


class Backends:
    """Query URLs of one stack's backends."""

    def __init__(self, stack: StackConfig) -> None:
        self.vm = f"http://{stack.host}:{stack.victoriametrics.port}"
        self.loki = f"http://{stack.host}:{stack.loki.http_port}"
        self.tempo = f"http://{stack.host}:{stack.tempo.http_port}"


async def _get_json(session: aiohttp.ClientSession, url: str, params: dict[str, str]) -> JSON:
    try:
        async with session.get(url, params=params) as resp:
            if resp.status != 200:
                body = (await resp.text())[:300]
                raise StackError(f"GET {url} {params}: HTTP {resp.status}: {body}")
            data: JSON = await resp.json(content_type=None)
            return data
    except aiohttp.ClientError as exc:
        raise StackError(f"GET {url}: {exc}") from exc


async def promql(session: aiohttp.ClientSession, base: str, query: str) -> list[JSON]:
    """Run an instant PromQL query on VictoriaMetrics; return the result vector."""
    data = await _get_json(session, f"{base}/api/v1/query", {"query": query})
    result: list[JSON] = data["data"]["result"]
    return result


async def logql(
    session: aiohttp.ClientSession, base: str, query: str, since_s: float = 3600.0
) -> list[JSON]:
    """Run a LogQL range query over the last ``since_s`` seconds on Loki; return the streams."""
    now = time.time_ns()
    params = {
        "query": query,
        "start": str(now - int(since_s * 1e9)),
        "end": str(now + int(60e9)),
        "limit": "1000",
    }
    data = await _get_json(session, f"{base}/loki/api/v1/query_range", params)
    result: list[JSON] = data["data"]["result"]
    return result


async def trace(session: aiohttp.ClientSession, base: str, trace_id: str) -> JSON | None:
    """Return the trace with hex id ``trace_id`` from Tempo, or None while it is unknown."""
    url = f"{base}/api/traces/{trace_id}"
    try:
        async with session.get(url, headers={"Accept": "application/json"}) as resp:
            if resp.status == 404:
                return None
            if resp.status != 200:
                raise StackError(f"GET {url}: HTTP {resp.status}: {(await resp.text())[:300]}")
            data: JSON = await resp.json(content_type=None)
            return data
    except aiohttp.ClientError as exc:
        raise StackError(f"GET {url}: {exc}") from exc
