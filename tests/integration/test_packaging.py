"""The wheel, installed into a fresh virtualenv outside the checkout, gives a working `sentio`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


@pytest.mark.timeout(900)
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIO_", "VIRTUAL_ENV"))}
    env["HOME"] = os.environ.get("HOME", str(tmp_path))
    wheels = tmp_path / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(REPO)],
         tmp_path, env)  # fmt: skip
    [wheel] = wheels.glob("sentio_iot-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env)
    work = tmp_path / "elsewhere"
    work.mkdir()
    sentio = str(venv / "bin/sentio")
    # without extras: a command that needs one says which, in one line, and exits 1
    _run([str(venv / "bin/pip"), "install", "-q", str(wheel)], tmp_path, env)
    for args, extra in (
        (["simulate", "--help"], None),
        (["simulate", "--port", "0"], "modbus"),
        (["provision", "grafana", "--files", str(tmp_path / "grafana")], "grafana"),
    ):
        proc = subprocess.run(
            [sentio, *args], cwd=work, env=env, capture_output=True, text=True, timeout=120
        )
        if extra is None:
            assert proc.returncode == 0, proc.stderr
            continue
        assert proc.returncode == 1, (args, proc.stderr)
        assert "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert f"pip install 'sentio-iot[{extra}]'" in proc.stderr, proc.stderr
    plain = subprocess.run(
        [sentio, "connectors", "list"], cwd=work, env=env, capture_output=True, text=True
    )
    assert plain.returncode == 0, plain.stderr
    for name, extra in (("modbus", "modbus"), ("opcua", "opcua"), ("mqtt", "mqtt")):
        assert f"{name}: cannot load: " in plain.stderr, plain.stderr
        assert f"sentio-iot[{extra}]" in plain.stderr, plain.stderr
    assert "homeassistant: cannot load" not in plain.stderr
    _run([str(venv / "bin/pip"), "install", "-q", f"{wheel}[all]"], tmp_path, env)

    assert "Build the pinned backends" in _run([sentio, "stack", "install", "--help"], work, env)
    validated = _run([sentio, "config", "validate", str(REPO / "config/sentio.yaml")], work, env)
    assert "ok" in validated.lower()
    listed = subprocess.run(
        [sentio, "connectors", "list"], cwd=work, env=env, capture_output=True, text=True
    )
    for name in ("modbus", "opcua", "mqtt", "zigbee2mqtt", "homeassistant"):
        assert name in listed.stdout
    assert "cannot load" not in listed.stderr, listed.stderr
    # versions and the backends' configs come from the package, not from a checkout
    code = (
        "from sentio.stack.versions import config_dir, load_versions;"
        "print(load_versions()['VICTORIALOGS_VERSION'], (config_dir() / 'jaeger.yaml').is_file())"
    )
    assert _run([str(venv / "bin/python"), "-c", code], work, env).split() == [
        _pinned("VICTORIALOGS_VERSION"),
        "True",
    ]


def _pinned(key: str) -> str:
    for line in (REPO / "versions.env").read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.partition("=")[2].strip()
    raise AssertionError(f"{key} not in versions.env")
