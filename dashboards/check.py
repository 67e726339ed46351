"""Run every query of every dashboard against the backends, as the panels would."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp
from sentio.dashboards.catalog import DASHBOARDS
from sentio.dashboards.model import Dashboard, Panel, Query

from sentio.config import SentioConfig
from sentio.errors import StackError
from sentio.stack.query import logsql

WINDOW_S = 3600


@dataclass(frozen=True)
class Outcome:
    """What one panel query returned: how many series, entries or traces, or the error."""

    dashboard: str
    panel: str
    expr: str
    results: int
    error: str = ""


def _bind(dashboard: Dashboard, expr: str, values: dict[str, str]) -> str:
    for variable in dashboard.variables:
        expr = expr.replace(f"${variable.name}", values.get(variable.name, ".+"))
    return expr


async def _promql(session: aiohttp.ClientSession, config: SentioConfig, q: Query, expr: str) -> int:
    base = config.query_url()
    if q.instant:
        url, params = f"{base}/api/v1/query", {"query": expr}
    else:
        now = time.time()
        url = f"{base}/api/v1/query_range"
        params = {
            "query": expr,
            "start": f"{now - WINDOW_S:.0f}",
            "end": f"{now:.0f}",
            "step": "15s",
        }
    async with session.get(url, params=params) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 200 or body.get("status") != "success":
            raise StackError(f"HTTP {resp.status}: {json.dumps(body)[:300]}")
        return len(body["data"]["result"])


async def _traces(session: aiohttp.ClientSession, config: SentioConfig, expr: str) -> int:
    key, _, value = expr.partition("=")
    params = {
        "service": config.service.name,
        "tags": json.dumps({key: value}),
        "limit": "20",
        "lookback": "1h",
    }
    async with session.get(f"{config.stack.url('jaeger')}/api/traces", params=params) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 200:
            raise StackError(f"HTTP {resp.status}: {json.dumps(body)[:300]}")
        return len(body.get("data") or [])


async def _one(
    session: aiohttp.ClientSession, config: SentioConfig, dashboard: Dashboard, panel: Panel,
    query: Query, values: dict[str, str],
) -> Outcome:  # fmt: skip
    expr = _bind(dashboard, query.expr, values)
    try:
        if query.language == "logsql":
            found = len(await logsql(session, config.stack.url("victorialogs"), expr, "1h"))
        elif query.language == "traces":
            found = await _traces(session, config, expr)
        else:
            found = await _promql(session, config, query, expr)
    except (StackError, aiohttp.ClientError, ValueError) as exc:
        return Outcome(dashboard.uid, panel.title, expr, 0, str(exc))
    return Outcome(dashboard.uid, panel.title, expr, found)


async def run_all(config: SentioConfig, values: dict[str, str]) -> list[Outcome]:
    """Run every query of every dashboard with ``values`` for its variables."""
    async with aiohttp.ClientSession() as session:
        jobs = [
            _one(session, config, d, p, q, values)
            for d in DASHBOARDS
            for p in d.panels()
            for q in p.queries
        ]
        return list(await asyncio.gather(*jobs))
