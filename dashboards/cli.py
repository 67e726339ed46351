"""`sentio provision` (native stack, Grafana) and `sentio alerts test`."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console

from sentio.config import SentioConfig, load
from sentio.errors import SentioError

provision_app = typer.Typer(
    help="Apply dashboards, alert rules and notifications (native stack by default, or Grafana).",
    invoke_without_command=True,
)
alerts_app = typer.Typer(help="Alerting: check the route to Slack.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Sentio YAML config; defaults apply when omitted."),
]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Show what would change; change nothing.")]


def _fail(exc: SentioError) -> typer.Exit:
    err.print(f"error: {exc}", markup=False, highlight=False)
    return typer.Exit(1)


def provision_native(config: SentioConfig, dry_run: bool = False) -> None:
    """Write and reload the native stack's rules, Alertmanager config and dashboards."""
    from sentio.dashboards.provision import apply

    started = time.monotonic()
    result = apply(config, lambda m: out.print(m, markup=False), dry_run)
    took = time.monotonic() - started
    if dry_run:
        for path in result.written:
            out.print(f"would write {path}", markup=False)
    out.print(
        f"{len(result.written)} file(s) {'to write' if dry_run else 'written'}, "
        f"{len(result.unchanged)} unchanged; reloaded: {', '.join(result.reloaded) or 'none'} "
        f"({took:.2f}s)",
        markup=False,
    )


@provision_app.callback()
def provision(ctx: typer.Context, config: ConfigOption = None, dry_run: DryRun = False) -> None:
    """Provision the native stack (vmalert rules, Alertmanager, VictoriaMetrics' dashboards)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        provision_native(load(config), dry_run)
    except SentioError as exc:
        raise _fail(exc) from None


@provision_app.command("grafana")
def provision_grafana(
    config: ConfigOption = None,
    url: Annotated[str | None, typer.Option(help="Grafana's base URL (else grafana.url).")] = None,
    files: Annotated[
        Path | None, typer.Option(help="Write Grafana's file-provisioning layout here instead.")
    ] = None,
    dry_run: DryRun = False,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite dashboards someone changed in Grafana.")
    ] = False,
) -> None:
    """Provision a Grafana you run: datasources, the Sentio folder and its dashboards."""
    from sentio.dashboards import grafana_api

    try:
        cfg = load(config)
        if files is not None:
            for path in grafana_api.write_files(cfg, files):
                out.print(f"wrote {path}", markup=False)
            return
        api = grafana_api.connect(cfg.grafana, url)
        with grafana_api.Grafana(api, url or str(cfg.grafana.url)) as g:
            started = time.monotonic()
            plan = grafana_api.make_plan(g, cfg, force)
            for step in plan.steps:
                out.print(f"{step.verb:9} {step.kind:10} {step.uid}", markup=False)
                if dry_run and step.verb != "unchanged":
                    out.print(step.diff(), markup=False, highlight=False)
            if dry_run:
                return
            done = grafana_api.apply(g, cfg, plan, lambda m: out.print(m, markup=False))
        out.print(f"{len(done)} change(s) in {time.monotonic() - started:.2f}s", markup=False)
    except SentioError as exc:
        raise _fail(exc) from None


async def _send_test(config: SentioConfig, device: str) -> list[dict[str, Any]]:
    from sentio.dashboards.vmalert import dashboard_link

    now = datetime.now(UTC)
    alert = {
        "labels": {"alertname": "SentioTest", "severity": "info", "device": device},
        "annotations": {
            "summary": f"Test notification for {device} from `sentio alerts test`",
            "description": "If you read this, vmalert's alerts reach you the same way.",
            "runbook": "Nothing to do: this is a test.",
            "dashboard": dashboard_link(config, "sentio-fleet"),
            "metric": "-",
        },
        "startsAt": now.isoformat(),
        "endsAt": (now + timedelta(minutes=5)).isoformat(),
        "generatorURL": "sentio://alerts-test",
    }
    base = config.stack.url("alertmanager")
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/v2/alerts", json=[alert]) as resp:
            if resp.status != 200:
                text = (await resp.text())[:300]
                raise SentioError(f"Alertmanager at {base} refused the alert: {resp.status} {text}")
        async with session.get(f"{base}/api/v2/receivers") as resp:
            receivers: list[dict[str, Any]] = await resp.json()
    return receivers


@alerts_app.command("test")
def alerts_test(
    config: ConfigOption = None,
    device: Annotated[
        str, typer.Option(help="The device label of the test alert.")
    ] = "sentio-test",
) -> None:
    """Send a test alert through Alertmanager, which routes it as it would a real one."""
    try:
        cfg = load(config)
        receivers = asyncio.run(_send_test(cfg, device))
    except aiohttp.ClientError as exc:
        err.print(f"error: Alertmanager is not reachable ({exc}); `sentio stack up`?")
        raise typer.Exit(1) from None
    except SentioError as exc:
        raise _fail(exc) from None
    names = ", ".join(r["name"] for r in receivers)
    out.print(
        f"test alert SentioTest for {device} sent to {cfg.stack.url('alertmanager')}; "
        f"receivers: {names} (it arrives after group_wait, {cfg.alerting.group_wait})",
        markup=False,
    )
