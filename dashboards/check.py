"""Run every query of every dashboard against the backends, as the panels would.

Beyond "some series came back", each outcome names the labels the panel groups by (PromQL's
outermost ``by (...)``, LogsQL's ``stats by (...)``) or shows in its legend (``{{label}}``) that
a result lacks: such a panel draws one unnamed line where it means one per label value.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp
from sentio.dashboards.catalog import DASHBOARDS
from sentio.dashboards.model import Dashboard, Panel, Query

from sentio.config import SentioConfig
from sentio.errors import StackError
from sentio.stack.query import logsql

WINDOW_S = 3600
_BY = re.compile(r"\bby\s*\(([^)]*)\)")
_LEGEND = re.compile(r"\{\{\s*(\w+)\s*\}\}")
# consumed by the function around the aggregation that names them
_CONSUMED = frozenset({"le"})
_CALL = re.compile(r"(\w*)\s*\(|\)")
# aggregations that keep only the labels of their own grouping
_DROPPING = frozenset(
    {"sum", "min", "max", "avg", "count", "group", "stddev", "stdvar", "quantile", "count_values"}
)


@dataclass(frozen=True)
class Outcome:
    """What one panel query returned: how many series, entries or traces, or the error."""

    dashboard: str
    panel: str
    expr: str
    results: int
    error: str = ""
    missing: tuple[str, ...] = ()


def _callers(text: str) -> list[str]:
    """Return the names of the calls still open at the end of ``text``, outermost first."""
    stack: list[str] = []
    for match in _CALL.finditer(text):
        if match.group(0) == ")":
            if stack:
                stack.pop()
        else:
            stack.append(match.group(1) or "")
    return stack


def grouped_labels(query: Query) -> tuple[str, ...]:
    """Return the labels every result of ``query`` must carry: its grouping and its legend's.

    The first ``by (...)`` counts unless an aggregation around it (``count(max by (a) ...)``)
    drops its labels again; labels the query calls optional do not count.
    """
    found: list[str] = []
    first = _BY.search(query.expr)
    if first is not None and not set(_callers(query.expr[: first.start()])) & _DROPPING:
        found.extend(n.strip() for n in first.group(1).split(",") if n.strip())
    found.extend(_LEGEND.findall(query.legend))
    skip = _CONSUMED | set(query.optional)
    return tuple(dict.fromkeys(n for n in found if n not in skip and not n.startswith("_")))


def missing_labels(
    wanted: Iterable[str], results: Iterable[Mapping[str, object]]
) -> tuple[str, ...]:
    """Return the labels of ``wanted`` that some result lacks (or has empty)."""
    rows = list(results)
    return tuple(n for n in wanted if any(not row.get(n) for row in rows))


def _bind(dashboard: Dashboard, expr: str, values: dict[str, str]) -> str:
    for variable in dashboard.variables:
        expr = expr.replace(f"${variable.name}", values.get(variable.name, ".+"))
    return expr


async def _promql(
    session: aiohttp.ClientSession, config: SentioConfig, q: Query, expr: str
) -> list[Mapping[str, object]]:
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
        return [series["metric"] for series in body["data"]["result"]]


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
        if query.language == "traces":
            return Outcome(dashboard.uid, panel.title, expr, await _traces(session, config, expr))
        rows: Sequence[Mapping[str, object]]
        if query.language == "logsql":
            rows = await logsql(session, config.stack.url("victorialogs"), expr, "1h")
        else:
            rows = await _promql(session, config, query, expr)
    except (StackError, aiohttp.ClientError, ValueError) as exc:
        return Outcome(dashboard.uid, panel.title, expr, 0, str(exc))
    missing = missing_labels(grouped_labels(query), rows)
    return Outcome(dashboard.uid, panel.title, expr, len(rows), missing=missing)


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
