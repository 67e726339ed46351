"""`sentio run` and `sentio connectors`: run the collector, list the connector plugins."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sentio.collectors.loop import run as run_on
from sentio.collectors.registry import installed
from sentio.collectors.runtime import Collector
from sentio.collectors.scaffold import scaffold
from sentio.collectors.sharding import (
    Shard,
    apply,
    describe,
    for_replicas,
    owned_devices,
    readings_identity,
    resolve,
)
from sentio.connectors.contract import ENTRY_POINT_GROUP

from sentio.config import SentioConfig, load
from sentio.telemetry import setup

connectors_app = typer.Typer(help="Connector plugins.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@connectors_app.command("list")
def list_cmd() -> None:
    """Show the installed connectors (entry-point group `sentio.connectors`) with versions."""
    plugins = installed()
    table = Table("connector", "provided by", "version", "object", "loads")
    for plugin in plugins:
        loads = "yes" if plugin.problem is None else "no"
        table.add_row(plugin.name, plugin.distribution, plugin.version, plugin.target, loads)
    out.print(table)
    for plugin in plugins:
        if plugin.problem is not None:
            err.print(f"{plugin.name}: cannot load: {plugin.problem}", markup=False)
    if not plugins:
        err.print(f"no connectors registered under {ENTRY_POINT_GROUP!r}")


@connectors_app.command("new")
def new_cmd(
    name: Annotated[str, typer.Argument(help="Connector name: lower case, digits, underscores.")],
    into: Annotated[Path, typer.Option("--into", help="Parent folder of the package.")] = Path(),
) -> None:
    """Scaffold a connector plugin package (pyproject with the entry point, module, test)."""
    root = scaffold(name, into)
    out.print(f"created {root}; next: pip install -e {root} && sentio connectors list")


async def _run(
    config: SentioConfig, duration: float | None, shard: Shard | None = None,
    identity: dict[str, str] | None = None,
) -> None:  # fmt: skip
    telemetry = setup(config, **{"sentio.component": "collector"})
    telemetry.attach("sentio.collector")  # errors also on stderr, where the operator looks
    try:
        collector = Collector(config, telemetry, identity)
        owned = apply(collector, shard)
        if shard is not None:
            for line in describe(shard, owned):
                err.print(line, markup=False, highlight=False)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, collector.stopping.set)
        if duration is not None:
            loop.call_later(duration, collector.stopping.set)
        names = ", ".join(i.config.name for i in collector.instances)
        err.print(f"collecting from {len(collector.instances)} connector(s): {names}")
        await collector.run()
        readings, requests = collector.drops()
        refused_names, refused_readings, messages = collector.refusals()
        err.print(
            f"stopped: {collector.sent} readings sent, {collector.spooled} spooled, "
            f"{readings} dropped ({requests} requests), "
            f"{len(collector.spool)} request(s) waiting in the spool, "
            f"{refused_names} names refused past the caps ({refused_readings} readings), "
            f"{messages} incoming messages dropped"
        )
    finally:
        await asyncio.to_thread(telemetry.shutdown)


def run(
    config: Annotated[Path, typer.Option("--config", "-c", help="Sentio config with connectors.")],
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            help="Read only share i of n of the devices (e.g. 0/2); default from the config or "
            "the environment (SENTIO_SHARD, SENTIO_SHARD_MEMBER, a StatefulSet pod's ordinal)."
        ),
    ] = None,
    replication: Annotated[
        int | None, typer.Option(help="Members that read each device (failover).", min=1)
    ] = None,
    list_devices: Annotated[
        bool, typer.Option("--list-devices", help="Print this member's devices and exit.")
    ] = False,
) -> None:
    """Run the configured connectors and export every reading (this member's share, if sharded)."""
    cfg = load(config)
    if not cfg.connectors:
        err.print(f"{config}: no `connectors:` configured; nothing to run")
        raise typer.Exit(2)
    member = resolve(shard, replication, cfg.collector.shard)
    if list_devices:
        typer.echo("\n".join(describe(member or Shard(0, 1), owned_devices(cfg, member))))
        return
    main = _run(for_replicas(cfg, member), duration, member, readings_identity(cfg, member))
    run_on(main, cfg.collector.event_loop)
