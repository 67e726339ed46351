"""A scaffolded connector plugin installs with pip and runs under `sentio run` unchanged."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from typer.testing import CliRunner

from sentio.cli import app
from sentio.config import SentioConfig
from sentio.stack.probe import poll
from sentio.stack.query import promql

PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]


async def _value(config: SentioConfig, query: str) -> float:
    async with aiohttp.ClientSession() as session:

        async def found() -> list[Any] | None:
            return await promql(session, config.query_url(), query) or None

        return float((await poll(found, 30, query))[0]["value"][1])


def test_scaffold_install_run_and_see_readings(
    stack_config_live: SentioConfig, tmp_path: Path
) -> None:
    name = f"plug_{uuid.uuid4().hex[:6]}"
    result = CliRunner().invoke(app, ["connectors", "new", name, "--into", str(tmp_path)])
    assert result.exit_code == 0, result.output
    root = tmp_path / f"sentio-connector-{name.replace('_', '-')}"
    assert (root / "pyproject.toml").is_file() and (root / "tests" / "test_connector.py").is_file()
    # no index: its one dependency must be the Sentio installed here (sentio-iot), by name
    installed = subprocess.run(
        [*PIP, "install", "--no-build-isolation", "--no-index", "-e", str(root)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr
    try:
        listed = subprocess.run(
            [sys.executable, "-m", "sentio.cli", "connectors", "list"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        assert name in listed.stdout
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(root / "tests")],
            cwd=root, capture_output=True, text=True,
        )  # fmt: skip
        assert tests.returncode == 0, tests.stdout
        reading = tmp_path / "boiler.txt"
        reading.write_text("63.25\n")
        data = stack_config_live.model_dump(mode="json")
        data["collector"] = {"spool_dir": str(tmp_path / "spool"), "flush_interval_s": 0.2}
        data["connectors"] = [
            {"name": f"{name}-1", "type": name, "poll_interval_s": 0.5,
             "config": {"devices": [{"name": "boiler-1", "path": str(reading),
                                     "metric": "temperature", "unit": "Cel"}]}}
        ]  # fmt: skip
        cfg = tmp_path / "sentio.yaml"
        cfg.write_text(yaml.safe_dump(data))
        run = subprocess.run(
            [sys.executable, "-m", "sentio.cli", "run", "-c", str(cfg), "--duration", "3"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        query = f'temperature_celsius{{instance="{name}-1",device="boiler-1"}}'
        assert asyncio.run(_value(stack_config_live, query)) == 63.25
    finally:
        subprocess.run([*PIP, "uninstall", "-y", f"sentio-connector-{name.replace('_', '-')}"],
                       check=False, capture_output=True)  # fmt: skip
