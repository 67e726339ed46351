"""`sentio bench scaleout` and `sentio bench footprint` are wired to the CLI."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from sentio.cli import app


@pytest.mark.parametrize(
    ("command", "says"),
    [("scaleout", "--storage-nodes"), ("footprint", "--window-s")],
)
def test_the_bench_command_is_registered(command: str, says: str) -> None:
    result = CliRunner().invoke(app, ["bench", command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert says in result.output
