"""`sentio logs query 'LOGQL'`: ask the stack's Loki API and print lines or series."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import requests
import typer
from rich.console import Console

from sentio.config import load
from sentio.errors import LogQLError, StackError

logs_app = typer.Typer(
    help="Query logs with LogQL through Sentio's Loki API.", no_args_is_help=True
)
out = Console(soft_wrap=True, highlight=False)
NS = 1_000_000_000


def _when(ns: int) -> str:
    return datetime.fromtimestamp(ns / NS, UTC).isoformat(timespec="milliseconds")


def _labels(labels: dict[str, str]) -> str:
    return "{" + ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def render(data: dict[str, Any]) -> list[str]:
    """Return the printable lines of a Loki query answer."""
    kind, result = data["resultType"], data["result"]
    if kind == "streams":
        rows = [(int(ts), s["stream"], line) for s in result for ts, line in s["values"]]
        return [f"{_when(ts)} {_labels(lab)} {line}" for ts, lab, line in rows]
    if kind == "matrix":
        return [
            f"{_labels(s['metric'])} {v} @ {_when(round(float(t) * NS))}"
            for s in result
            for t, v in s["values"]
        ]
    if kind == "vector":
        return [f"{_labels(s['metric'])} {s['value'][1]}" for s in result]
    return [str(result[1])]


@logs_app.command("query")
def query_cmd(
    logql: Annotated[str, typer.Argument(help="A LogQL query, e.g. '{service_name=\"sentio\"}'.")],
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Sentio YAML config.")
    ] = None,
    since: Annotated[str, typer.Option(help="How far back, e.g. 15m, 1h.")] = "1h",
    limit: Annotated[int, typer.Option(help="Most log lines to return.")] = 100,
    forward: Annotated[bool, typer.Option("--forward", help="Oldest first.")] = False,
    step: Annotated[str | None, typer.Option(help="Step of a metric query, e.g. 1m.")] = None,
    instant: Annotated[bool, typer.Option("--instant", help="An instant metric query.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print Loki's JSON answer.")] = False,
) -> None:
    """Run a LogQL query through the stack's Loki API (`loki-api`, translated to LogsQL)."""
    cfg = load(config)
    base = cfg.stack.url("loki-api")
    path = "query" if instant else "query_range"
    params: dict[str, str] = {"query": logql, "limit": str(limit)}
    if not instant:
        params.update(since=since, direction="forward" if forward else "backward")
        if step:
            params["step"] = step
    url = f"{base}/loki/api/v1/{path}"
    try:
        resp = requests.get(url, params=params, timeout=120)
    except requests.RequestException as exc:
        raise StackError(
            f"the Loki API at {base} does not answer ({exc}); run `sentio stack up`"
        ) from exc
    if resp.status_code == 400:
        raise LogQLError(resp.text.strip())
    if resp.status_code != 200:
        raise StackError(f"GET {url}: HTTP {resp.status_code}: {resp.text[:300]}")
    body = resp.json()
    if as_json:
        out.print(json.dumps(body), markup=False)
        return
    for line in render(body["data"]):
        out.print(line, markup=False)


@logs_app.command("serve")
def serve_cmd(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Sentio YAML config.")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to listen on; `stack.host`.")] = None,
    port: Annotated[int | None, typer.Option(help="Port; `stack.loki_api.port` (3100).")] = None,
    victorialogs: Annotated[
        str | None, typer.Option(help="VictoriaLogs' base URL; the stack's.")
    ] = None,
) -> None:
    """Serve Loki's read API over VictoriaLogs until SIGTERM or Ctrl-C (`sentio stack up` does)."""
    from sentio.logql.__main__ import run_until_signal

    stack = load(config).stack
    run_until_signal(
        host or stack.host, port or stack.loki_api.port, victorialogs or stack.url("victorialogs")
    )
