"""`sentio deploy`: write and check the Kubernetes manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sentio.config import load
from sentio.deploy.kubernetes import differences, render, write
from sentio.errors import SentioError
from sentio.stack.versions import load_versions

deploy_app = typer.Typer(help="Deploy Sentio beyond one machine.", no_args_is_help=True)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@deploy_app.command("kubernetes")
def kubernetes_cmd(
    into: Annotated[
        Path, typer.Option("--out", help="Folder to write (kustomize base and overlays).")
    ] = Path("deploy/kubernetes"),
    check: Annotated[
        bool, typer.Option("--check", help="Write nothing; exit 1 if the folder is stale.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Render the rules from this sentio.yaml's `alerting:` section."
        ),
    ] = None,
) -> None:
    """Write the manifests' generated files (image tags, sizes, rules) or check they are current."""
    try:
        alerting = load(config).alerting if config is not None else None
        files = render(load_versions(), alerting)
    except SentioError as exc:
        err.print(f"error: {exc}", markup=False)
        raise typer.Exit(1) from None
    if check:
        problems = differences(into, files)
        for problem in problems:
            err.print(problem, markup=False)
        if problems:
            err.print(f"run `sentio deploy kubernetes --out {into}`", markup=False)
            raise typer.Exit(1)
        out.print(f"{into}: {len(files)} files, all current")
        return
    for path in write(into, files):
        out.print(f"wrote {path}", markup=False)
