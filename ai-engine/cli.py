"""`sentio ai`: run the AI engine against VictoriaMetrics."""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from collections.abc import Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console

from sentio import shards
from sentio.config import SentioConfig, load
from sentio.errors import SentioError
from sentio.redact import redact
from sentio.telemetry import setup

ai_app = typer.Typer(help="Find anomalies and predict faults from PromQL.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


def parse_shard(text: str) -> tuple[int, int]:
    """Parse `i/n` (0 <= i < n)."""
    try:
        member, count = shards.parse_shard(text)
    except shards.ShardError:
        member = count = 0
    if not 0 <= member < count:
        raise typer.BadParameter(f"expected i/n with 0 <= i < n, got {text!r}")
    return member, count


async def _run(config: SentioConfig, once: bool, shard: tuple[int, int]) -> bool:
    """Run the engine; return whether no cycle failed (``--once``) or it stopped when asked."""
    from sentio.ai_engine.scheduler import Scheduler  # numpy and scikit-learn: only when used

    telemetry = setup(config, **{"sentio.component": "ai-engine"})
    telemetry.attach("sentio.ai")  # a failed cycle also on stderr, credentials masked
    try:
        async with aiohttp.ClientSession() as session:
            scheduler = Scheduler(config, telemetry, session, shard)
            restored = scheduler.restore()
            err.print(f"{len(scheduler.engines)} queries, {restored} restored from state")
            if once:
                for stats in await scheduler.run_due():
                    err.print(
                        f"{stats.phase} {stats.query}: {stats.series} series, "
                        f"{stats.findings} samples, {stats.anomalies} anomalies"
                    )
                if scheduler.failed:
                    err.print(f"{scheduler.failed} cycle(s) failed; see the errors above")
                return not scheduler.failed
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await scheduler.run_forever(stop, lambda m: err.print(m, markup=False))
            return True
    finally:
        await asyncio.to_thread(telemetry.shutdown)


def parse_time(text: str) -> int:
    """Parse unix seconds or an ISO 8601 time (UTC when no zone is given)."""
    try:
        return int(float(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r}: expected unix seconds or an ISO 8601 time") from None
    return int((when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp())


async def _backtest(config: SentioConfig, start: int, end: int, names: list[str]) -> bool:
    """Fit and score each query over the window; return True (a failure raises)."""
    from sentio.ai_engine.scheduler import Scheduler

    telemetry = setup(config, **{"sentio.component": "ai-backtest"})
    telemetry.attach("sentio.ai")
    try:
        async with aiohttp.ClientSession() as session:
            scheduler = Scheduler(config, telemetry, session)
            with tempfile.TemporaryDirectory() as state:
                for engine in scheduler.engines:
                    if names and engine.query.name not in names:
                        continue
                    engine.path = Path(state) / engine.path.name
                    fitted = await engine.fit(start)
                    scored = await engine.infer(end)
                    err.print(
                        f"{engine.query.name}: fitted {fitted.series} series before {start}, "
                        f"scored {scored.series} series to {end}: {scored.findings} samples "
                        f"written, {scored.anomalies} anomalies"
                    )
        return True
    finally:
        await asyncio.to_thread(telemetry.shutdown)


@ai_app.command("backtest")
def backtest(
    config: Annotated[Path, typer.Option("--config", "-c", help="Sentio config with `ai:`.")],
    start: Annotated[str, typer.Option("--from", help="Start: unix seconds or ISO 8601.")],
    end: Annotated[str, typer.Option("--to", help="End: unix seconds or ISO 8601.")],
    query: Annotated[list[str] | None, typer.Option(help="Only this query (repeatable).")] = None,
) -> None:
    """Replay history: fit on the window before --from, score up to --to, write the scores."""
    cfg = load(config)
    first, last = parse_time(start), parse_time(end)
    if last <= first:
        raise typer.BadParameter(f"--to ({end}) must be after --from ({start})")
    unknown = set(query or []) - {q.name for q in cfg.ai.queries}
    if unknown:
        err.print(f"{config}: no query named {', '.join(sorted(unknown))} under `ai.queries`")
        raise typer.Exit(2)
    _main(_backtest(cfg, first, last, query or []))


@ai_app.command("run")
def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Sentio config with `ai:`.")],
    once: Annotated[bool, typer.Option(help="Run the due cycles once and exit.")] = False,
    shard: Annotated[str, typer.Option(help="Score shard i of n of the series.")] = "0/1",
) -> None:
    """Score the configured queries on schedule and write findings back as metrics."""
    cfg = load(config)
    if not cfg.ai.queries:
        err.print(f"{config}: no queries under `ai.queries`; nothing to do")
        raise typer.Exit(2)
    _main(_run(cfg, once, parse_shard(shard)))


def _main(main: Coroutine[Any, Any, bool]) -> None:
    """Run ``main``; exit 1 if it fails or reports a failed cycle, with one redacted line."""
    try:
        ok = asyncio.run(main)
    except SentioError as exc:
        err.print(f"error: {redact(str(exc))}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    if not ok:
        raise typer.Exit(1)


@ai_app.command("rebaseline")
def rebaseline(
    device: Annotated[str, typer.Argument(help="The device (its `device` label).")],
    config: Annotated[Path, typer.Option("--config", "-c", help="Sentio config with `ai:`.")],
    since: Annotated[
        str | None,
        typer.Option(help="Learn from this time on (unix seconds or ISO 8601); default now."),
    ] = None,
    query: Annotated[list[str] | None, typer.Option(help="Only this query (repeatable).")] = None,
) -> None:
    """Re-baseline a device after maintenance: its model learns only from --since on."""
    from sentio.ai_engine.baseline import request_rebaseline

    cfg = load(config)
    grouped = [q for q in cfg.ai.queries if "device" in q.group_by]
    names = set(query or [q.name for q in grouped])
    unknown = names - {q.name for q in grouped}
    if unknown or not names:
        err.print(
            f"{config}: no query scoring devices (`group_by` with `device`) named "
            f"{', '.join(sorted(unknown)) or 'in `ai.queries`'}"
        )
        raise typer.Exit(2)
    start = parse_time(since) if since is not None else int(time.time())
    for name in sorted(names):
        path = request_rebaseline(cfg.ai.state_dir, name, device, start)
        err.print(f"{name}: re-baseline of {device} from {start} left for the engine: {path}")
