"""One error handler for every command: a bad config is `file:line: key.path: reason`, exit 1."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
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
    ],
)
def test_urls_lose_their_passwords(text: str, masked: str) -> None:
    assert redact(text) == masked


def test_the_log_filter_masks_passwords_in_formatted_records() -> None:
    record = logging.LogRecord(
        "x", logging.ERROR, __file__, 1, "POST %s: %s", ("http://u:pw@h/", "no"), None
    )
    assert RedactFilter().filter(record)
    assert record.getMessage() == "POST http://u:***@h/: no"
