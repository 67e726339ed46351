"""`sentio bench`: measurements against the real backends."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from sentio.config import load

bench_app = typer.Typer(help="Measure Sentio against the real backends.", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


def _print(data: dict[str, Any], as_json: bool) -> None:
    """Print a report as one JSON object, or as aligned key/value lines."""
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
        return
    width = max(map(len, data)) + 2
    for key, value in data.items():
        typer.echo(f"{key:{width}} {value}")


@bench_app.command("roundtrip")
def roundtrip(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Sentio config.")] = None,
    samples: Annotated[int, typer.Option(help="Probes per signal.", min=1)] = 100,
    collector_samples: Annotated[
        int,
        typer.Option(
            help="Value changes of a simulated pump timed through a real `sentio run` to PromQL "
            "(0: skip).",
            min=0,
        ),
    ] = 20,
    poll_interval: Annotated[
        float | None,
        typer.Option(help="The pump's poll interval (s); default: the collector's.", min=0.1),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Time emit-to-queryable for a metric, a log record and a span, and a device's change."""
    from sentio.bench.roundtrip import run

    def progress(message: str) -> None:
        err.print(message, markup=False)

    report = run(load(config), samples, progress, collector_samples, poll_interval)
    data = asdict(report)
    if not as_json:
        data.update({f"collector_{k}": v for k, v in (data.pop("collector") or {}).items()})
    _print(data, as_json)


@bench_app.command("ai")
def ai(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Sentio config.")] = None,
    series: Annotated[
        int, typer.Option(help="Synthetic series (1-minute, devices of ten).", min=1)
    ] = 10_000,
    runs: Annotated[int, typer.Option(help="Fresh queries fitted and inferred.", min=1)] = 1,
    profile_name: Annotated[
        str,
        typer.Option(
            help="The load: `default` (the engine's defaults: 7-day fit, auto models, group_by "
            "device, forecasts on) or `rig` (1-day fit, no group_by, no forecasts)."
        ),
    ] = "default",
    workers: Annotated[
        str, typer.Option(help="Also count the bytes each of n workers reads, for each n.")
    ] = "1,2,4",
    profile: Annotated[
        Path | None, typer.Option(help="Profile the first run's cycles; dump stats here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Time the AI engine's fit and infer cycles against reading the same series."""
    from sentio.bench.ai import run as run_ai

    try:
        counts = [int(n) for n in workers.split(",") if n.strip()]
    except ValueError as exc:
        hint = f"{workers!r}: expected counts like 1,2,4"
        raise typer.BadParameter(hint, param_hint="--workers") from exc
    progress = lambda m: err.print(m, markup=False, highlight=False)  # noqa: E731
    report = run_ai(load(config), series, progress, runs, profile, profile_name, counts)
    _print(asdict(report), as_json)


@bench_app.command("ingest")
def ingest(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Sentio config.")] = None,
    units: Annotated[int, typer.Option(help="Simulated meters (Modbus unit ids).", min=1)] = 16,
    connections: Annotated[int, typer.Option(help="TCP connections to share them.", min=1)] = 4,
    warmup_s: Annotated[float, typer.Option(help="Seconds run before measuring.", min=0)] = 5.0,
    window_s: Annotated[float, typer.Option(help="Seconds measured per run.", min=1)] = 20.0,
    interval_ms: Annotated[
        float, typer.Option(help="Poll interval of both readers, per meter.", min=1)
    ] = 10.0,
    repeat: Annotated[
        int, typer.Option(help="Runs of each reader, alternating Sentio and Telegraf.", min=1)
    ] = 3,
    baseline: Annotated[
        bool, typer.Option(help="Also run Telegraf against the same meters (built on first use).")
    ] = True,
    profile: Annotated[
        Path | None,
        typer.Option(help="Profile one more collector run (not counted) with cProfile; dump here."),
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the readers' configs and logs here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Read simulated meters into VictoriaMetrics, alternating with Telegraf as the baseline."""
    from sentio.bench.ingest import Timing
    from sentio.bench.ingest import run as run_ingest

    report = run_ingest(
        load(config), units=units, connections=connections,
        timing=Timing(interval_ms / 1000, warmup_s, window_s), repetitions=repeat,
        baseline=baseline, profile=profile, workdir=workdir,
        progress=lambda m: err.print(m, markup=False),
    )  # fmt: skip
    _print(asdict(report), as_json)


@bench_app.command("scaleout")
def scaleout(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Sentio config.")] = None,
    units: Annotated[int, typer.Option(help="Simulated meters (Modbus unit ids).", min=2)] = 16,
    connections: Annotated[int, typer.Option(help="TCP connections to share them.", min=1)] = 4,
    warmup_s: Annotated[float, typer.Option(help="Seconds run before measuring.", min=0)] = 5.0,
    window_s: Annotated[float, typer.Option(help="Seconds measured per phase.", min=1)] = 20.0,
    storage_nodes: Annotated[
        int, typer.Option(help="VictoriaLogs storage nodes of the cluster.", min=1)
    ] = 2,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Two sharded collectors against one; VictoriaLogs cluster ingest against single-node."""
    from sentio.bench.scaleout import run as run_scaleout

    report = run_scaleout(
        load(config), units=units, connections=connections, warmup_s=warmup_s,
        window_s=window_s, storage_nodes=storage_nodes,
        progress=lambda m: err.print(m, markup=False),
    )  # fmt: skip
    _print(asdict(report), as_json)


@bench_app.command("logql")
def logql(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Sentio config.")] = None,
    records: Annotated[int, typer.Option(help="Log records loaded over OTLP.", min=1)] = 1_000_000,
    repeat: Annotated[int, typer.Option(help="Timed runs of each query each way.", min=1)] = 7,
    stream_lines: Annotated[
        int, typer.Option(help="Lines of the streamed answer whose memory is measured.", min=1)
    ] = 100_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Time the Loki API against the same LogsQL sent straight to VictoriaLogs; its RSS."""
    from sentio.bench.logql import run as run_logql

    report = run_logql(
        load(config), records=records, repeat=repeat, stream_lines=stream_lines,
        progress=lambda m: err.print(m, markup=False),
    )  # fmt: skip
    _print(asdict(report), as_json)


@bench_app.command("footprint")
def footprint(
    config: Annotated[Path | None, typer.Option("--config", "-c", help="Sentio config.")] = None,
    units: Annotated[int, typer.Option(help="Simulated meters (Modbus unit ids).", min=1)] = 16,
    window_s: Annotated[float, typer.Option(help="Seconds measured.", min=1)] = 30.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Each backend's cores and peak memory while the collector ingests at full speed."""
    from sentio.bench.footprint import run as run_footprint

    report = run_footprint(
        load(config), units=units, window_s=window_s, progress=lambda m: err.print(m, markup=False)
    )
    _print(asdict(report), as_json)


@bench_app.command("alert")
def alert(
    runs: Annotated[
        int, typer.Option(help="Faults injected and cleared, per settings.", min=1)
    ] = 5,
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--settings",
            help="rig (short debounce and waits, inference every 2 s) or default (what a user "
            "gets: for 2m, group_wait 30s, 15 s evaluations, inference every 60 s); repeatable; "
            "both when omitted.",
        ),
    ] = None,
    evaluation_interval: Annotated[
        str, typer.Option(help="vmalert's evaluation interval of the rig settings (Go duration).")
    ] = "10s",
    silent_runs: Annotated[
        int,
        typer.Option(
            help="Collector and AI engine processes killed at the default settings, each timed "
            "to its page (0: none).",
            min=0,
        ),
    ] = 3,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the stacks' data, configs and logs here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Time fault injected to Slack message (through vmalert and Alertmanager) at each settings."""
    import tempfile

    from sentio.bench.alert import run as run_alert

    chosen = settings or ["rig", "default"]
    unknown = sorted(set(chosen) - {"rig", "default"})
    if unknown:
        raise typer.BadParameter(f"--settings {', '.join(unknown)}: expected rig or default")
    progress = lambda m: err.print(m, markup=False, highlight=False)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="sentio-alert-") as tmp:
        report = run_alert(
            runs, evaluation_interval, workdir or Path(tmp), progress, chosen, silent_runs
        )
    if as_json:
        _print(report, True)
        return
    for name, section in report.items():
        typer.echo(f"[{name}]")
        _print(section, False)


@bench_app.command("faults")
def faults(
    hang_s: Annotated[
        float, typer.Option(help="Seconds the metrics backend hangs before it returns.", min=1)
    ] = 120.0,
    units: Annotated[int, typer.Option(help="Simulated meters, 100 readings each.", min=1)] = 12,
    examples: Annotated[int, typer.Option(help="Fuzzed inputs per decoder.", min=1)] = 2000,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the scenarios' data, configs and logs here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Hang the metrics backend, kill -9 the collector, fuzz the decoders; count what is lost."""
    import asyncio
    import tempfile

    from sentio.bench.faults import run_all

    progress = lambda m: err.print(m, markup=False, highlight=False)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="sentio-faults-") as tmp:
        work = workdir or Path(tmp)
        report = asyncio.run(
            run_all(work, hang_s=hang_s, units=units, examples=examples, progress=progress)
        )
    _print(asdict(report), as_json)


@bench_app.command("fuzz")
def fuzz(
    examples: Annotated[int, typer.Option(help="Generated inputs per target.", min=1)] = 2000,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Fuzz every decoder and parser of outside input; exit 1 if any lets out a crash."""
    from sentio.bench.fuzz import run_all

    report = run_all(examples, lambda m: err.print(m, markup=False, highlight=False))
    _print(asdict(report), as_json)
    if report.fuzz_crashes:
        raise typer.Exit(1)


@bench_app.command("fleet")
def fleet(
    devices: Annotated[
        int, typer.Option(help="Simulated Modbus devices, 100 unit ids per connection.", min=1)
    ] = 1000,
    duration_s: Annotated[
        float, typer.Option(help="Seconds measured, after a warm-up.", min=1, max=36_000)
    ] = 300.0,
    warmup_s: Annotated[float, typer.Option(help="Seconds run before measuring.", min=0)] = 10.0,
    poll_interval_s: Annotated[
        float, typer.Option(help="Every device's poll interval.", min=0.1)
    ] = 1.0,
    baseline: Annotated[
        str,
        typer.Option(
            help="`telegraf`: after each collector run, Telegraf's Modbus input polls the same "
            "fleet (one request per device, the same interval); the figures become ratios."
        ),
    ] = "none",
    repeat: Annotated[
        int, typer.Option(help="Repetitions (each reader once per repetition).", min=1, max=20)
    ] = 1,
    profile: Annotated[
        Path | None, typer.Option(help="Run the collector under cProfile; dump stats here.")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="Keep the configs, logs and VictoriaMetrics data here.")
    ] = None,
    reader_cpus: Annotated[
        str,
        typer.Option(
            help="Bind each reader (the collector, Telegraf) to these CPUs, e.g. `1` or `0,2`; "
            "the simulator and VictoriaMetrics stay free. Empty: not bound."
        ),
    ] = "",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Poll a fleet of small Modbus devices every second; the collector's lag, memory and CPU."""
    import asyncio
    import tempfile

    from sentio.bench.fleet import parse_cpus
    from sentio.bench.fleet_baseline import run as run_fleet

    cpus = parse_cpus(reader_cpus)

    progress = lambda m: err.print(m, markup=False, highlight=False)  # noqa: E731
    with tempfile.TemporaryDirectory(prefix="sentio-fleet-") as tmp:
        work = workdir or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        report = asyncio.run(
            run_fleet(
                work, devices=devices, duration_s=duration_s, warmup_s=warmup_s,
                interval_s=poll_interval_s, repeat=repeat, baseline=baseline, profile=profile,
                progress=progress, reader_cpus=cpus,
            )
        )  # fmt: skip
    data = asdict(report)
    if not as_json:  # one line per figure; the runs are in --json
        runs = data.pop("runs")
        for reader in ("sentio", "telegraf"):
            for key, value in (data.pop(reader) or {}).items():
                data[f"{reader}_{key}"] = value
        data["runs"] = len(runs)
    _print(data, as_json)
