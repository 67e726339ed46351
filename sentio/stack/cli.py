"""`sentio stack`: install, start, inspect and stop the native backends."""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from sentio.config import SentioConfig, load
from sentio.errors import SentioError
from sentio.stack.backends import Backend, backends, tools
from sentio.stack.install import install
from sentio.stack.supervisor import Stack, tail
from sentio.stack.versions import load_versions

stack_app = typer.Typer(
    help="Run VictoriaMetrics, vmalert, VictoriaLogs, Jaeger and Alertmanager natively.",
    no_args_is_help=True,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Sentio YAML config; defaults apply when omitted."),
]
OnlyOption = Annotated[
    list[str] | None, typer.Option("--only", help="Act on this backend only (repeatable).")
]


def selected(only: list[str] | None) -> dict[str, Backend]:
    """Return the backends named by ``only`` (all when empty)."""
    every = backends(load_versions())
    names = only or list(every)
    unknown = [n for n in names if n not in every]
    if unknown:
        err.print(f"unknown backend(s): {', '.join(unknown)}; known: {', '.join(every)}")
        raise typer.Exit(2)
    return {n: every[n] for n in names}


def make_stack(config: SentioConfig, only: list[str] | None = None) -> Stack:
    """Return the stack of ``config``."""
    return Stack(config.stack, selected(only), config.stack.bin_dir)


def _fail(exc: SentioError) -> typer.Exit:
    err.print(f"error: {exc}", markup=False, highlight=False)
    return typer.Exit(1)


@stack_app.command("install")
def install_cmd(config: ConfigOption = None, only: OnlyOption = None) -> None:
    """Build the pinned backends from the Go module proxy into the cache (once)."""
    cfg = load(config)
    extra = [] if only else list(tools(load_versions()).values())
    try:
        results = install([*selected(only).values(), *extra], cfg.stack.bin_dir, out.print)
    except SentioError as exc:
        raise _fail(exc) from None
    for r in results:
        out.print(f"  {r.name:16} {r.path}")


def wait_for_interrupt(duration: float | None = None) -> None:
    """Block until Ctrl-C, SIGTERM or ``duration`` seconds."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(duration)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


@stack_app.command("up")
def up_cmd(
    config: ConfigOption = None,
    only: OnlyOption = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", "-f", help="Stay attached; Ctrl-C stops the stack.")
    ] = False,
) -> None:
    """Start the backends and wait until each is healthy."""
    cfg = load(config)
    stack = make_stack(cfg, only)
    try:
        install(stack.backends.values(), cfg.stack.bin_dir, out.print)
        t0 = time.monotonic()
        asyncio.run(stack.up(out.print))
    except SentioError as exc:
        raise _fail(exc) from None
    out.print(f"stack healthy in {time.monotonic() - t0:.1f}s; data in {cfg.stack.data_dir}")
    if foreground:
        out.print("Ctrl-C stops the stack")
        wait_for_interrupt()
        asyncio.run(stack.down(progress=out.print))


@stack_app.command("down")
def down_cmd(config: ConfigOption = None, only: OnlyOption = None) -> None:
    """Stop the backends this data directory runs."""
    asyncio.run(make_stack(load(config), only).down(progress=out.print))


@stack_app.command("status")
def status_cmd(
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show each backend's process, health and version; exit 1 unless all are healthy."""
    states = asyncio.run(make_stack(load(config)).status())
    if as_json:
        typer.echo(json.dumps([asdict(s) for s in states], indent=2))
    else:
        table = Table("backend", "process", "health", "version", "url")
        for s in states:
            table.add_row(
                s.name,
                f"pid {s.pid}" if s.pid else "not running",
                "[green]healthy[/]" if s.healthy else f"[red]{s.detail}[/]",
                s.version or f"(pinned {s.pinned})",
                s.url,
            )
        out.print(table)
    if not all(s.healthy for s in states):
        raise typer.Exit(1)


@stack_app.command("logs")
def logs_cmd(
    name: Annotated[str, typer.Argument(help="Backend name.")],
    config: ConfigOption = None,
    lines: Annotated[int, typer.Option("--lines", "-n", help="How many lines.")] = 50,
) -> None:
    """Print the last lines of a backend's log (a cluster node's too)."""
    stack = make_stack(load(config))
    if name not in stack.backends:
        err.print(f"unknown backend: {name}; known: {', '.join(stack.backends)}")
        raise typer.Exit(2)
    typer.echo(tail(stack.log_path(name), lines))
