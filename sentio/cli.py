"""The `sentio` command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from sentio import __version__
from sentio.ai_engine.cli import ai_app
from sentio.ai_engine.nab.cli import eval_app
from sentio.bench.cli import bench_app
from sentio.collectors.cli import connectors_app
from sentio.collectors.cli import run as run_collector
from sentio.config import ConfigFileError, json_schema, load
from sentio.dashboards.cli import alerts_app, provision_app
from sentio.deploy.cli import deploy_app
from sentio.errors import SentioError
from sentio.extras import missing_message, require
from sentio.logql.cli import logs_app
from sentio.redact import redact
from sentio.simulators.cli import simulate
from sentio.stack.cli import stack_app


class _Commands(TyperGroup):
    """The one error handler of every command: a Sentio error is a message and exit 1.

    A bad config prints each problem as ``file:line: key.path: reason``; a module of an extra
    that is not installed names the extra to install; a file or folder that cannot be read or
    written is named with the reason; no password of a URL reaches the terminal.
    """

    def invoke(self, ctx: Any) -> Any:  # typer vendors click; its Context is private
        try:
            return super().invoke(ctx)
        except ConfigFileError as exc:
            for issue in exc.issues:
                err.print(redact(str(issue)), markup=False, highlight=False)
            raise typer.Exit(1) from None
        except SentioError as exc:
            err.print(f"error: {redact(str(exc))}", markup=False, highlight=False)
            raise typer.Exit(1) from None
        except ModuleNotFoundError as exc:
            message = missing_message(exc)
            if message is None:
                raise
            err.print(f"error: {message}", markup=False, highlight=False)
            raise typer.Exit(1) from None
        except OSError as exc:
            if exc.filename is None:  # not about a file or folder the user named or owns
                raise
            where = f"{exc.filename} -> {exc.filename2}" if exc.filename2 else exc.filename
            err.print(f"error: {where}: {exc.strerror}", markup=False, highlight=False)
            raise typer.Exit(1) from None


app = typer.Typer(
    name="sentio",
    cls=_Commands,
    help="Observability-first telemetry for IoT and industrial devices.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
config_app = typer.Typer(help="Check and describe the configuration file.", no_args_is_help=True)
app.add_typer(config_app, name="config")
app.add_typer(stack_app, name="stack")
app.add_typer(bench_app, name="bench")
app.add_typer(ai_app, name="ai")
app.add_typer(eval_app, name="eval")
app.add_typer(connectors_app, name="connectors")
app.add_typer(provision_app, name="provision")
app.add_typer(alerts_app, name="alerts")
app.add_typer(deploy_app, name="deploy")
app.add_typer(logs_app, name="logs")
app.command("run")(run_collector)
app.command("simulate")(simulate)
err = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="Sentio YAML config; defaults apply when omitted."),
]


@app.callback(invoke_without_command=True)
def main(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.")] = False,
) -> None:
    """Run Sentio."""
    if version:
        typer.echo(f"sentio {__version__}")
        raise typer.Exit


@config_app.command("validate")
def config_validate(
    file: Annotated[Path | None, typer.Argument(help="Config file to check.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="The same, as every command takes it.")
    ] = None,
) -> None:
    """Validate FILE (or -c FILE) and report every error with its key path and line."""
    path = file if config is None else config
    if path is None or (file is not None and config is not None):
        raise typer.BadParameter("give the config file once: FILE or -c FILE", param_hint="FILE")
    try:
        load(path)
    except ConfigFileError as exc:
        for issue in exc.issues:
            err.print(str(issue), markup=False, highlight=False)
        err.print(f"{len(exc.issues)} error(s) in {path}", style="red")
        raise typer.Exit(1) from None
    typer.echo(f"{path}: OK")


@app.command("doctor")
def doctor(config: ConfigOption = None) -> None:
    """Check the config, the backends, the OTLP endpoints, ports, spool and clock; exit 1 if off."""
    from sentio.doctor import Level, run

    failed = False
    for check in run(config):
        failed = failed or check.level is Level.FAIL
        typer.echo(str(check))
    raise typer.Exit(1 if failed else 0)


@config_app.command("schema")
def config_schema() -> None:
    """Print the JSON Schema of the configuration file."""
    typer.echo(json.dumps(json_schema(), indent=2))


@app.command("demo")
def demo(
    config: ConfigOption = None,
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: until Ctrl-C).")
    ] = None,
    external: Annotated[
        bool, typer.Option("--external", help="Use backends already running elsewhere.")
    ] = False,
    fault: Annotated[
        list[str] | None,
        typer.Option(
            help="TARGET=FAULT, repeatable: a pump `2=spike:vibration:5`, a line station "
            "`line:Oven=drift:temperature:5`, a Zigbee sensor `zigbee:climate-1=dead`."
        ),
    ] = None,
    fault_after: Annotated[
        float, typer.Option(help="Seconds before the faults are injected.", min=0)
    ] = 120.0,
) -> None:
    """Start the stack, simulated devices, the collector and the AI engine; Ctrl-C stops it."""
    require("sentio demo", ("modbus", "opcua", "mqtt"))
    from sentio.demo import run_demo
    from sentio.simulators.cli import parse_fault

    faults = [parse_fault(f) for f in fault or []]
    run_demo(load(config), duration, not external, faults, fault_after)


if __name__ == "__main__":
    app()
