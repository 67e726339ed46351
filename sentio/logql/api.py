"""Loki's read API over VictoriaLogs (aiohttp): LogQL in, Loki's JSON out, records streamed.

Log results are written to the client as VictoriaLogs yields them, one stream object per run
of records with the same labels, so memory stays bounded whatever the limit. A query that is
not LogQL, or has no LogsQL translation, is HTTP 400 with Loki's plain-text error body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
from aiohttp import web

from sentio import __version__
from sentio.errors import LogQLError, StackError
from sentio.logql import ast
from sentio.logql.evaluate import Window, evaluate, fmt_value, matrix, vector
from sentio.logql.labels import (
    INTERNAL_FIELDS,
    LEVEL_LABELS,
    SEVERITY_FIELD,
    Resolver,
    loki_name,
    normalize_level,
    parse_stream,
    stream_labels,
)
from sentio.logql.params import ParamError, instant_params, parse_step, range_params, window
from sentio.logql.parser import parse
from sentio.logql.translate import LogsPlan, MetricPlan, Plan, ScalarPlan, Translator, qf, quote
from sentio.logql.victorialogs import VictoriaLogs, parse_rfc3339_ns

log = logging.getLogger(__name__)
NS = 1_000_000_000
FLUSH_VALUES = 500  # values per stream object before it is written out
LABEL_SETS = 4096  # label sets of one answer remembered, so equal records share one dict
WRITE_CHUNK = 64 * 1024  # bytes of a streamed answer gathered per write
PLAN_CACHE = 512  # translated queries kept (Grafana repeats a dashboard's few queries)
# The Loki API version whose shapes this implements; Grafana reads it to pick features.
LOKI_API_VERSION = "3.4.0"
VL_KEY: web.AppKey[VictoriaLogs] = web.AppKey("victorialogs", VictoriaLogs)
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _args(request: web.Request, form: Mapping[str, Any] | None = None) -> dict[str, str]:
    out = {k: v for k, v in request.query.items()}
    if form:
        out.update({k: str(v) for k, v in form.items()})
    return out


async def _all_args(request: web.Request) -> dict[str, str]:
    form = await request.post() if request.method == "POST" else None
    return _args(request, form)


def _error(status: int, message: str) -> web.Response:
    return web.Response(status=status, text=message + "\n", content_type="text/plain")


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Answer Sentio's LogQL errors with Loki's 400 and backend failures with 502."""
    try:
        return await handler(request)
    except LogQLError as exc:
        return _error(400, str(exc))
    except StackError as exc:
        log.warning("Loki API: %s", exc)
        return _error(502, str(exc))


class LokiApi:
    """The request handlers; one VictoriaLogs client behind them."""

    def __init__(self, vl: VictoriaLogs) -> None:
        self.vl = vl
        self._fields: list[str] | None = None
        self._translator = Translator()
        self._plans: OrderedDict[str, tuple[ast.Query, Plan]] = OrderedDict()

    async def translator(self) -> Translator:
        """Return a translator that knows the field names VictoriaLogs holds now."""
        fields = await self.vl.known_fields()
        if fields is not self._fields:  # a new list: the cached translations may resolve anew
            self._fields = fields
            self._translator = Translator(Resolver(fields))
            self._plans.clear()
        return self._translator

    async def plan(self, query: str) -> tuple[ast.Query, Plan]:
        """Parse and translate a LogQL query, from the cache when it was translated before."""
        translator = await self.translator()
        cached = self._plans.get(query)
        if cached is not None:
            self._plans.move_to_end(query)
            return cached
        tree = parse(query)
        out = tree, translator.translate(tree)
        self._plans[query] = out
        if len(self._plans) > PLAN_CACHE:
            self._plans.popitem(last=False)
        return out

    # queries ----------------------------------------------------------------------------------
    async def query_range(self, request: web.Request) -> web.StreamResponse:
        """Answer ``/loki/api/v1/query_range``: streams for log queries, matrix for metrics."""
        p = range_params(await _all_args(request))
        _tree, plan = await self.plan(p.query)
        if isinstance(plan, LogsPlan):
            return await self.stream_logs(
                request, plan, p.start, p.end, p.limit, p.forward, p.interval_ns
            )
        series = await evaluate(self.vl, plan, Window(p.start, p.end, p.step_ns))
        return _success("matrix", matrix(series))

    async def query(self, request: web.Request) -> web.StreamResponse:
        """Answer ``/loki/api/v1/query``: an instant metric query (vector or scalar)."""
        query, at, _limit, _forward = instant_params(await _all_args(request))
        _tree, plan = await self.plan(query)
        if isinstance(plan, LogsPlan):
            raise ParamError(
                "log queries are not supported as an instant query type, please change your "
                "query to a range query type"
            )
        return _success(*await self._instant(plan, at))

    async def _instant(self, plan: MetricPlan, at: int) -> tuple[str, Any]:
        if isinstance(plan, ScalarPlan):
            return "scalar", [at / NS, fmt_value(plan.value)]
        series = await evaluate(self.vl, plan, Window(at, at, 0))
        return "vector", vector(series, at)

    async def stream_logs(
        self,
        request: web.Request,
        plan: LogsPlan,
        start: int,
        end: int,
        limit: int,
        forward: bool,
        interval_ns: int = 0,
    ) -> web.StreamResponse:
        """Write the records of a log plan as Loki streams while VictoriaLogs sends them."""
        order = "" if forward else " desc"
        query = f"{plan.query} | sort by (_time{order}) | limit {limit}"
        batches = self.vl.batches(query, start, end - 1)
        try:
            return await self._write_streams(request, batches, interval_ns)
        finally:
            await batches.aclose()

    async def _write_streams(
        self,
        request: web.Request,
        batches: AsyncGenerator[list[dict[str, Any]], None],
        interval_ns: int,
    ) -> web.StreamResponse:
        out = _Body(request)
        out.add(b'{"status":"success","data":{"resultType":"streams","result":[')
        written, entries, size = 0, 0, 0
        labels: tuple[dict[str, str], str] | None = None  # the labels and their JSON
        values: list[str] = []  # the current stream's values, as JSON
        last_ts: int | None = None

        async def flush() -> None:
            nonlocal written
            if labels is None or not values:
                return
            body = f'{"," if written else ""}{{"stream":{labels[1]},"values":[{",".join(values)}]}}'
            await out.write(body.encode())
            written += 1
            values.clear()

        known: dict[tuple[tuple[str, Any], ...], tuple[dict[str, str], str]] = {}
        async for batch in batches:
            for rec in batch:
                ts = parse_rfc3339_ns(str(rec.pop("_time", "")))
                if interval_ns and last_ts is not None and abs(ts - last_ts) < interval_ns:
                    continue
                last_ts = ts
                line = str(rec.pop("_msg", ""))
                key = tuple(rec.items())  # the fields left are the labels' source
                rec_labels = known.get(key)
                if rec_labels is None:
                    if len(known) >= LABEL_SETS:
                        known.clear()
                    found = stream_labels(rec)
                    rec_labels = known[key] = (found, _JSON.encode(found))
                new = labels is None or (rec_labels is not labels and rec_labels[0] != labels[0])
                if new or len(values) >= FLUSH_VALUES:
                    await flush()
                    labels = rec_labels
                values.append(f'["{ts}",{_JSON.encode(line)}]')
                entries += 1
                size += len(line)
        await flush()
        summary = {
            "summary": {
                "totalEntriesReturned": entries,
                "totalLinesProcessed": entries,
                "totalBytesProcessed": size,
            }
        }
        out.add(b'],"stats":' + json.dumps(summary).encode() + b"}}")
        return await out.finish()

    # metadata ---------------------------------------------------------------------------------
    async def _selector_query(self, text: str | None) -> str:
        if not text:
            return "*"
        tree = parse(text)
        if not isinstance(tree, ast.LogQuery):
            raise ParamError(f"{text!r}: a stream selector is needed here")
        plan = (await self.translator()).log_query(tree)
        return plan.query

    async def labels(self, request: web.Request) -> web.Response:
        """Answer ``/loki/api/v1/labels``."""
        args = await _all_args(request)
        start, end = window(args)
        query = await self._selector_query(args.get("query"))
        names = await self.vl.field_names(query, start, end)
        out = {loki_name(n) for n in names if n not in INTERNAL_FIELDS}
        if SEVERITY_FIELD in names:
            out.add("detected_level")
        return web.json_response({"status": "success", "data": sorted(out)})

    async def label_values(self, request: web.Request) -> web.Response:
        """Answer ``/loki/api/v1/label/{name}/values``."""
        args = await _all_args(request)
        name = request.match_info["name"]
        start, end = window(args)
        query = await self._selector_query(args.get("query"))
        resolver = (await self.translator()).resolver
        field = resolver.field(name)
        limit = int(args["limit"]) if args.get("limit", "").isdigit() else 0
        values = await self.vl.field_values(field, query, start, end, limit)
        if name in LEVEL_LABELS:
            values = [normalize_level(v) for v in values]
        return web.json_response(
            {"status": "success", "data": sorted({v for v in values if v != ""})}
        )

    async def series(self, request: web.Request) -> web.Response:
        """Answer ``/loki/api/v1/series`` for each ``match[]`` selector."""
        args = await _all_args(request)
        matches = request.query.getall("match[]", [])
        if request.method == "POST":
            form = await request.post()
            matches = [*matches, *(str(v) for v in form.getall("match[]", []))]
        if not matches and args.get("match"):
            matches = [args["match"]]
        start, end = window(args)
        queries = [await self._selector_query(m) for m in matches] or ["*"]
        seen: set[tuple[tuple[str, str], ...]] = set()
        out: list[dict[str, str]] = []
        for q in queries:
            for stream in await self.vl.streams(q, start, end):
                labels = {loki_name(k): v for k, v in parse_stream(stream).items()}
                key = tuple(sorted(labels.items()))
                if key not in seen:
                    seen.add(key)
                    out.append(labels)
        return web.json_response({"status": "success", "data": out})

    async def index_stats(self, request: web.Request) -> web.Response:
        """Answer ``/loki/api/v1/index/stats``: streams, chunks, bytes and entries."""
        args = await _all_args(request)
        start, end = window(args)
        query = await self._selector_query(args.get("query"))
        stats = (
            f"{query} | stats count() as entries, sum_len(_msg) as bytes, "
            "count_uniq(_stream) as streams"
        )
        rows = [r async for r in self.vl.lines(stats, start, end)]
        row = rows[0] if rows else {}
        streams = int(row.get("streams", 0) or 0)
        return web.json_response(
            {
                "streams": streams,
                "chunks": streams,
                "bytes": int(row.get("bytes", 0) or 0),
                "entries": int(row.get("entries", 0) or 0),
            }
        )

    async def _volume_query(self, args: dict[str, str]) -> tuple[str, dict[str, str]]:
        text = args.get("query") or ""
        tree = parse(text) if text else None
        if tree is not None and not isinstance(tree, ast.LogQuery):
            raise ParamError(f"{text!r}: a stream selector is needed here")
        translator = await self.translator()
        base = translator.log_query(tree).query if tree is not None else "*"
        if args.get("targetLabels"):
            names = [n.strip() for n in args["targetLabels"].split(",") if n.strip()]
        elif tree is not None:
            names = [m.name for m in tree.matchers]
        else:
            names = []
        groups = {translator.field(n): n for n in names}
        by = f"by ({', '.join(qf(f) for f in groups)}) " if groups else ""
        return f"{base} | stats {by}sum_len(_msg) as logql_value", groups

    async def volume(self, request: web.Request) -> web.Response:
        """Answer ``/loki/api/v1/index/volume``: bytes per label set, largest first."""
        args = await _all_args(request)
        start, end = window(args)
        query, groups = await self._volume_query(args)
        limit = int(args["limit"]) if args.get("limit", "").isdigit() else 100
        rows = await self.vl.stats_instant(query, start, end)
        result: list[dict[str, Any]] = [
            {
                "metric": {
                    groups.get(k, loki_name(k)): v
                    for k, v in r["metric"].items()
                    if k != "__name__"
                },
                "value": [end / NS, str(r["value"][1])],
            }
            for r in rows
        ]
        result.sort(key=lambda r: -float(r["value"][1]))
        return _success("vector", result[:limit])

    async def volume_range(self, request: web.Request) -> web.Response:
        """Answer ``/loki/api/v1/index/volume_range``: bytes per label set and step."""
        args = await _all_args(request)
        start, end = window(args)
        step = parse_step(args["step"]) if args.get("step") else max(NS, (end - start) // 250)
        query, groups = await self._volume_query(args)
        rows = await self.vl.stats_range(query, start, end, step, (-start) % step)
        result = [
            {
                "metric": {
                    groups.get(k, loki_name(k)): v
                    for k, v in r["metric"].items()
                    if k != "__name__"
                },
                "values": [[float(ts), str(v)] for ts, v in r["values"]],
            }
            for r in rows
        ]
        return _success("matrix", result)

    # health -----------------------------------------------------------------------------------
    async def ready(self, request: web.Request) -> web.Response:
        """Answer ``/ready``: 200 once VictoriaLogs answers."""
        if await self.vl.healthy():
            return web.Response(text="ready\n")
        return web.Response(status=503, text="VictoriaLogs is not ready\n")

    async def buildinfo(self, request: web.Request) -> web.Response:
        """Answer ``/loki/api/v1/status/buildinfo``."""
        return web.json_response(
            {
                "version": LOKI_API_VERSION,
                "revision": f"sentio-{__version__}",
                "branch": "sentio-logql",
                "buildUser": "sentio",
                "buildDate": "",
                "goVersion": "",
            }
        )

    # live tail --------------------------------------------------------------------------------
    async def tail(self, request: web.Request) -> web.StreamResponse:
        """Answer ``/loki/api/v1/tail`` over WebSocket: new records as they are stored."""
        args = _args(request)
        query = args.get("query", "")
        if not query:
            raise ParamError("query parameter is required")
        _tree, plan = await self.plan(query)
        if not isinstance(plan, LogsPlan):
            raise ParamError("only log queries can be tailed")
        ws = web.WebSocketResponse(heartbeat=30)
        await ws.prepare(request)
        reader = asyncio.ensure_future(self._tail_into(ws, plan.query))
        try:
            async for msg in ws:
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR):
                    break
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, StackError, LogQLError):
                await reader
            await ws.close()
        return ws

    async def _tail_into(self, ws: web.WebSocketResponse, query: str) -> None:
        try:
            async for rec in self.vl.tail(query):
                ts = parse_rfc3339_ns(str(rec.get("_time", "")))
                frame = {
                    "streams": [
                        {
                            "stream": stream_labels(rec),
                            "values": [[str(ts), str(rec.get("_msg", ""))]],
                        }
                    ],
                    "dropped_entries": None,
                }
                await ws.send_str(json.dumps(frame, ensure_ascii=False))
        except (StackError, LogQLError) as exc:
            await ws.close(code=aiohttp.WSCloseCode.INTERNAL_ERROR, message=str(exc)[:120].encode())


API_KEY: web.AppKey[LokiApi] = web.AppKey("loki_api", LokiApi)


class _Body:
    """A JSON answer written in chunks of ``WRITE_CHUNK`` bytes, or whole when it is short.

    A short answer goes out as one response with a length (one send); a long one is streamed
    chunked, so memory stays bounded. Until the first chunk is sent, an error is still an
    error status.
    """

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.pending: list[bytes] = []
        self.size = 0
        self.resp: web.StreamResponse | None = None

    def add(self, data: bytes) -> None:
        """Queue ``data`` without writing."""
        self.pending.append(data)
        self.size += len(data)

    async def write(self, data: bytes) -> None:
        """Queue ``data``; send what is queued once it fills a chunk."""
        self.add(data)
        if self.size < WRITE_CHUNK:
            return
        if self.resp is None:
            self.resp = web.StreamResponse(headers={"Content-Type": "application/json"})
            await self.resp.prepare(self.request)
        chunk = b"".join(self.pending)
        self.pending.clear()
        self.size = 0
        await self.resp.write(chunk)

    async def finish(self) -> web.StreamResponse:
        """Send what is left and end the answer."""
        body = b"".join(self.pending)
        self.pending.clear()
        if self.resp is None:
            return web.Response(body=body, content_type="application/json")
        await self.resp.write_eof(body)
        return self.resp


def _success(result_type: str, result: Any) -> web.Response:
    return web.json_response(
        {"status": "success", "data": {"resultType": result_type, "result": result, "stats": {}}}
    )


def build_app(vl_url: str, session: aiohttp.ClientSession | None = None) -> web.Application:
    """Return the Loki API application reading from VictoriaLogs at ``vl_url``."""
    app = web.Application(middlewares=[errors_middleware], client_max_size=4 * 1024 * 1024)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        parse('{a="b"}')  # builds the parser's tables now rather than at the first query
        own = session is None
        s = session or aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10)
        )
        vl = VictoriaLogs(s, vl_url)
        app[VL_KEY] = vl
        api = LokiApi(vl)
        app[API_KEY] = api
        yield
        await vl.close()
        if own:
            await s.close()

    app.cleanup_ctx.append(lifecycle)

    def route(name: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            api = request.app[API_KEY]
            method: Handler = getattr(api, name)
            return await method(request)

        return handler

    v1 = "/loki/api/v1"
    for path, name in (
        ("/query_range", "query_range"),
        ("/query", "query"),
        ("/labels", "labels"),
        ("/label", "labels"),
        ("/label/{name}/values", "label_values"),
        ("/series", "series"),
        ("/index/stats", "index_stats"),
        ("/index/volume", "volume"),
        ("/index/volume_range", "volume_range"),
    ):
        app.router.add_route("GET", v1 + path, route(name))
        app.router.add_route("POST", v1 + path, route(name))
    app.router.add_get(v1 + "/tail", route("tail"))
    app.router.add_get(v1 + "/status/buildinfo", route("buildinfo"))
    app.router.add_get("/ready", route("ready"))
    app.router.add_get("/loki/ready", route("ready"))
    return app


async def serve(host: str, port: int, vl_url: str) -> None:
    """Serve the Loki API until cancelled."""
    runner = web.AppRunner(build_app(vl_url), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def now_ns() -> int:
    """Return the current time in nanoseconds."""
    return time.time_ns()


__all__ = ["LokiApi", "build_app", "quote", "serve"]
