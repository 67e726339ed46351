"""`sentio eval nab`: run the AI engine's detector over NAB and score it by NAB's rules."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from sentio.ai_engine.errors import AiEngineError
from sentio.ai_engine.tep.cli import tep, tep_episodes

if TYPE_CHECKING:
    from sentio.ai_engine.nab.corpus import NabSeries

DETECTOR_NAME = "sentio"
DEFAULT_JOBS = min(os.cpu_count() or 1, 4)
eval_app = typer.Typer(
    help="Measure the AI engine's detection quality on labelled benchmarks.",
    no_args_is_help=True,
)
err = Console(stderr=True, soft_wrap=True)


@eval_app.callback()
def _group() -> None:
    """Measure the AI engine's detection quality on labelled benchmarks."""


@eval_app.command("nab")
def nab(
    data: Annotated[
        Path, typer.Option("--data", help="NAB folder holding data/, labels/ and config/.")
    ],
    as_json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object with the three scores.")
    ] = False,
    results: Annotated[
        Path | None,
        typer.Option(
            "--results", metavar="DIR", help="Also write each file's scores in NAB's layout."
        ),
    ] = None,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", min=1, help="Worker processes.")
    ] = DEFAULT_JOBS,
) -> None:
    """Run the detector over NAB in streaming mode and score it by NAB's rules."""
    # numpy comes with the `ai` extra: import it only when this command runs.
    from sentio.ai_engine.models import EnvelopeConfig
    from sentio.ai_engine.nab.corpus import load_corpus
    from sentio.ai_engine.nab.evaluate import evaluate
    from sentio.ai_engine.nab.report import (
        as_entry,
        as_json,
        details,
        scoreboard_table,
        standing,
    )
    from sentio.ai_engine.nab.results import write_results
    from sentio.ai_engine.nab.runner import score_corpus

    started = time.monotonic()
    try:
        corpus = load_corpus(data)
        with _progress() as bar:
            task = bar.add_task("scoring NAB", total=corpus.n_rows)

            def advance(item: NabSeries) -> None:
                bar.update(task, advance=len(item.values), description=item.stem)

            scores = score_corpus(corpus.series, EnvelopeConfig(), jobs, advance)
        outcome = evaluate(corpus.series, scores, corpus.profiles)
        if results is not None:
            paths = write_results(results, DETECTOR_NAME, corpus.series, scores)
            err.print(f"wrote {len(paths)} result files under {results / DETECTOR_NAME}")
    except AiEngineError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(1) from None
    elapsed = time.monotonic() - started
    if as_json_output:
        sys.stdout.write(json.dumps(as_json(outcome)) + "\n")
        return
    out = Console(soft_wrap=True)
    ours = as_entry(f"Sentio ({DETECTOR_NAME})", outcome)
    out.print(scoreboard_table(ours))
    for line in standing(ours):
        out.print(line, markup=False, highlight=False)
    for line in details(outcome):
        out.print(line, markup=False, highlight=False)
    out.print(
        f"{len(corpus.series)} files, {corpus.n_rows} rows, {corpus.n_windows} windows "
        f"in {elapsed:.1f} s",
        markup=False,
        highlight=False,
    )


eval_app.command("tep")(tep)
eval_app.command("tep-episodes")(tep_episodes)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:<40}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    )


def main() -> None:
    """Run ``nab`` as a stand-alone command."""
    standalone = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    standalone.command()(nab)
    standalone()


if __name__ == "__main__":
    main()
