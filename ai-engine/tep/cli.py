"""`sentio eval tep`: the device model against PCA and DPCA on the Tennessee Eastman process."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sentio.ai_engine.errors import AiEngineError

err = Console(stderr=True, soft_wrap=True)
LABELS = {
    "sentio": "Sentio",
    "pca_t2": "PCA T²",
    "pca_q": "PCA Q",
    "dpca_t2": "DPCA T²",
    "dpca_q": "DPCA Q",
}


def tep(
    data: Annotated[
        Path, typer.Option("--data", help="Folder holding d00.dat, d00_te.dat ... d21_te.dat.")
    ],
    as_json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with every figure.")
    ] = False,
    tune: Annotated[
        bool,
        typer.Option(
            "--tune", help="Choose the settings again from the training files (about 20 s)."
        ),
    ] = False,
    engine_defaults: Annotated[
        bool,
        typer.Option(
            "--engine-defaults",
            help="Score with the engine's default device model (as `sentio ai run` fits it) "
            "instead of the settings chosen on the training files.",
        ),
    ] = False,
) -> None:
    """Fit on normal TEP data, score every test file row by row, compare with PCA and DPCA."""
    # numpy comes with the `ai` extra: import it only when this command runs.
    from sentio.ai_engine.tep.data import load_tep, load_training
    from sentio.ai_engine.tep.evaluate import evaluate_tep
    from sentio.ai_engine.tep.tune import CHOSEN, ENGINE, Trial, choose

    started = time.monotonic()
    try:
        settings = ENGINE if engine_defaults else CHOSEN
        trials: list[Trial] = []
        if tune:
            best, trials = choose(load_training(data))  # the training files only
            settings = best.settings
        outcome = evaluate_tep(load_tep(data), settings)
    except AiEngineError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    report = outcome.as_json()
    if trials:
        report["tuning"] = [t.as_json() for t in trials]
    if as_json_output:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    out = Console(soft_wrap=True)
    out.print(
        "settings chosen on the training files: "
        + ", ".join(f"{k} {v:g}" for k, v in report["settings"].items()),
        markup=False,
    )
    out.print(_summary(report))
    out.print(_faults(report))
    for fault, check in report["explanation_top3"].items():
        verdict = "yes" if check["hit"] else "no"
        out.print(
            f"fault {fault}: root {'/'.join(check['roots'])} in top 3 drivers "
            f"({', '.join(check['top'])}): {verdict}",
            markup=False,
            highlight=False,
        )
    out.print(f"21 faults, 22 test files in {time.monotonic() - started:.1f} s", markup=False)


def _summary(report: dict[str, Any]) -> Table:
    table = Table(title="Tennessee Eastman process: mean detection rate (higher is better)")
    for column in ("Method", "18 faults", "21 faults", "False alarms", "18 @ 1% FA", "21 @ 1% FA"):
        table.add_column(column, justify="left" if column == "Method" else "right")
    rows = {"sentio": report, **report["baselines"]}
    for name, r in rows.items():
        table.add_row(
            LABELS[name],
            f"{r['mean_detection_18']:.3f}",
            f"{r['mean_detection_21']:.3f}",
            f"{100 * r['false_alarm_rate']:.1f}%",
            f"{r['mean_detection_18_at_far1']:.3f}",
            f"{r['mean_detection_21_at_far1']:.3f}",
        )
    return table


def _faults(report: dict[str, Any]) -> Table:
    table = Table(title="Detection per fault: own threshold / matched 1% false alarms")
    table.add_column("Fault", justify="right")
    for name in LABELS:
        table.add_column(LABELS[name], justify="right")
    for fault, methods in report["faults"].items():
        table.add_row(
            fault,
            *(
                f"{methods[m]['detection']:.2f} / {methods[m]['detection_at_far1']:.2f}"
                for m in LABELS
            ),
        )
    return table


def tep_episodes(
    data: Annotated[
        Path, typer.Option("--data", help="Folder holding d00.dat, d00_te.dat ... d21_te.dat.")
    ],
    as_json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with every figure.")
    ] = False,
    anomaly_for: Annotated[
        str | None, typer.Option(help="The rule's `for:` (default: alerting.anomaly_for's).")
    ] = None,
    anomaly_hold: Annotated[
        str | None, typer.Option(help="The rule's hold (default: alerting.anomaly_hold's).")
    ] = None,
    engine_defaults: Annotated[
        bool,
        typer.Option(
            "--engine-defaults",
            help="Score with the engine's default device model (as `sentio ai run` fits it) "
            "instead of the settings chosen on the training files.",
        ),
    ] = False,
) -> None:
    """Score TEP runs whose faults end and normal operation resumes, per row and per episode."""
    from sentio.ai_engine.alerts import RuleTiming, go_seconds
    from sentio.ai_engine.tep.data import load_tep
    from sentio.ai_engine.tep.episodes import evaluate_episodes
    from sentio.ai_engine.tep.tune import CHOSEN, ENGINE

    from sentio.config import AlertingConfig, VmalertConfig

    defaults = AlertingConfig()
    try:
        rule = RuleTiming(
            go_seconds(anomaly_for or defaults.anomaly_for),
            go_seconds(VmalertConfig().evaluation_interval),
            go_seconds(anomaly_hold or defaults.anomaly_hold),
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    try:
        settings = ENGINE if engine_defaults else CHOSEN
        report = evaluate_episodes(load_tep(data), rule, settings).as_json()
    except AiEngineError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    if as_json_output:
        sys.stdout.write(json.dumps(report) + "\n")
        return
    out = Console(soft_wrap=True)
    table = Table(title=f"TEP faults that end: {report['runs']} runs, rule {report['rule']}")
    for column in ("Faults", "F1", "False alarms", "Missed", "Alerted", "False alerts/day",
                   "Delay p50", "Below 1 after end p50/max"):  # fmt: skip
        table.add_column(column, justify="right")
    for name, rows in report["per_row"].items():
        ep = report["per_episode"][name]
        below = ep["score_below_1_after_end_s"]
        table.add_row(
            name.removeprefix("faults_"), f"{rows['f1']:.3f}",
            f"{100 * rows['false_alarm_rate']:.1f}%", f"{100 * rows['missed_alarm_rate']:.1f}%",
            f"{100 * ep['share_alerted']:.0f}%", f"{ep['false_alerts_per_day']:.2f}",
            f"{ep['detection_delay_s']['median']} s", f"{below['median']} / {below['max']} s",
        )  # fmt: skip
    out.print(table)
