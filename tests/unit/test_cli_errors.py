"""One error handler for every command: a bad config is `file:line: key.path: reason`, exit 1."""

from __future__ import annotations

import importlib.util
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from sentio.cli import app
from sentio.redact import RedactFilter, redact

BAD = "collector:\n  queue_limit: lots\n"


@pytest.mark.parametrize(
    "command",
    [
        ["run", "-c"],
        ["demo", "--duration", "1", "-c"],
        ["bench", "roundtrip", "-c"],
        ["bench", "ingest", "-c"],
        ["bench", "ai", "-c"],
        ["config", "validate"],
        ["stack", "install", "-c"],
        ["stack", "down", "-c"],
        ["stack", "status", "-c"],
        ["ai", "run", "--once", "-c"],
    ],
)
def test_a_bad_config_is_reported_with_file_line_and_key_by_every_command(
    tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "sentio.yaml"
    config.write_text(BAD)
    result = CliRunner().invoke(app, [*command, str(config)])
    assert result.exit_code == 1, result.output
    assert f"{config}:2: collector.queue_limit: " in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_a_missing_config_file_is_one_line_and_exit_1(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run", "-c", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 1
    assert f"{tmp_path / 'nope.yaml'}: <root>: cannot read: No such file or directory" in (
        result.output
    )


def test_simulate_never_echoes_the_password_of_its_mqtt_url() -> None:
    url = "mqtt://sentio:hunter2-secret@127.0.0.1:notaport"
    result = CliRunner().invoke(app, ["simulate", "--zigbee", "1", "--mqtt-url", url])
    assert result.exit_code != 0
    assert "hunter2-secret" not in result.output
    assert "mqtt://sentio:***@127.0.0.1:notaport" in result.output


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("mqtt://u:pw@h:1883", "mqtt://u:***@h:1883"),
        ("POST https://a:b%40c@host/v1 failed", "POST https://a:***@host/v1 failed"),
        ("http://host:8428/x", "http://host:8428/x"),
        ("two: http://u:1@a and ws://v:2@b/", "two: http://u:***@a and ws://v:***@b/"),
        ("mqtt://:only-pw@h", "mqtt://:***@h"),
        ("https://ghp_abc123@github.com/x", "https://***@github.com/x"),
        ("GET http://h/q?query=up&token=s3&x=1", "GET http://h/q?query=up&token=***&x=1"),
        ("http://h/?api_key=k1;X-Amz-Signature=f0", "http://h/?api_key=***;X-Amz-Signature=***"),
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer ***"),
        ("http://h:8428/api/v1/query_range?query=rate(x[5m])", None),
    ],
)
def test_urls_lose_their_passwords(text: str, masked: str | None) -> None:
    assert redact(text) == (text if masked is None else masked)


def test_the_log_filter_masks_passwords_in_formatted_records() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "POST %s: %s", ("http://u:pw@h/", "no"), None
    )
    assert RedactFilter().filter(record)
    assert record.getMessage() == "POST http://u:***@h/: no"


def test_the_log_filter_folds_a_traceback_that_shows_a_password_into_the_message() -> None:
    try:
        raise ValueError("cannot reach http://u:hunter2-secret@h/x?token=tok-secret")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert RedactFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "hunter2-secret" not in formatted and "tok-secret" not in formatted
    assert record.exc_info is None and "Traceback" in formatted and "http://u:***@h" in formatted


def test_the_log_filter_keeps_a_harmless_traceback_as_it_is() -> None:
    try:
        raise ValueError("no secret here")
    except ValueError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    assert RedactFilter().filter(record)
    assert record.exc_info is not None and record.getMessage() == "failed"


@pytest.mark.parametrize(
    "command",
    [["connectors", "new", "foo", "--into"], ["deploy", "kubernetes", "--out"]],
)
def test_a_folder_that_cannot_be_made_is_one_line_naming_it(
    tmp_path: Path, command: list[str]
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(app, [*command, str(blocker / "sub")])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"error: {blocker}/") and "Not a directory" in line, line


def test_config_validate_takes_the_file_as_argument_or_as_c(tmp_path: Path) -> None:
    config = tmp_path / "sentio.yaml"
    config.write_text("collector: {}\n")
    for args in ([str(config)], ["-c", str(config)], ["--config", str(config)]):
        result = CliRunner().invoke(app, ["config", "validate", *args])
        assert result.exit_code == 0, result.output
        assert f"{config}: OK" in result.output
    for args in ([], [str(config), "-c", str(config)]):
        result = CliRunner().invoke(app, ["config", "validate", *args])
        assert result.exit_code == 2, result.output


# The commands that read no Sentio config, as the README's "The CLI" lists them.
WITHOUT_CONFIG = {
    "config schema",
    "simulate",
    "connectors list",
    "connectors new",
    "eval nab",
    "eval tep",
    "eval tep-episodes",
    "bench alert",
    "bench faults",
    "bench fleet",
    "bench fuzz",
}


def test_every_command_that_reads_the_config_takes_c() -> None:
    def leaves(command: Any, path: tuple[str, ...]) -> Iterator[tuple[str, Any]]:
        for name, sub in getattr(command, "commands", {}).items():
            yield from leaves(sub, (*path, name))
        if not getattr(command, "commands", None):
            yield " ".join(path), command

    commands = dict(leaves(typer.main.get_command(app), ()))
    assert set(commands) >= WITHOUT_CONFIG
    for name, command in commands.items():
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        assert ({"-c", "--config"} <= options) is (name not in WITHOUT_CONFIG), name


def test_the_demo_names_every_missing_extra_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    absent = {"asyncua", "aiomqtt"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name in absent else real(name, *a)
    )
    result = CliRunner().invoke(app, ["demo", "--duration", "1"])
    assert result.exit_code == 1, result.output
    [line] = result.output.strip().splitlines()
    assert line == (
        "error: sentio demo needs the opcua, mqtt extra(s), missing here: "
        "pip install 'sentio-iot[all]'"
    ), line
