"""The wheel, installed into a fresh virtualenv outside the checkout, gives a working `sentio`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.conftest import stack_config

REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


@pytest.fixture(scope="module")
def wheelhouse() -> Iterator[Path]:
    """Yield a folder anyone can read with Sentio's wheel and every wheel `[all]` needs."""
    root = Path(tempfile.mkdtemp(prefix="sentio-wheelhouse-"))
    root.chmod(0o755)
    try:
        wheels = root / "wheels"
        proc = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "-q", "-w", str(wheels), f"{REPO}[all]"],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        assert proc.returncode == 0, f"pip wheel {REPO}[all] failed:\n{proc.stderr}"
        yield wheels
    finally:
        shutil.rmtree(root)


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


@pytest.mark.timeout(900)
def test_the_wheel_installs_and_runs_outside_the_checkout(tmp_path: Path, wheelhouse: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTIO_", "VIRTUAL_ENV"))}
    env["HOME"] = os.environ.get("HOME", str(tmp_path))
    env["PIP_NO_INDEX"], env["PIP_FIND_LINKS"] = "1", str(wheelhouse)
    [wheel] = wheelhouse.glob("sentio_iot-*.whl")
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
        (["demo", "--duration", "1"], "all"),
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


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to an unprivileged user needs root")
@pytest.mark.timeout(600)
def test_an_unprivileged_user_installs_the_wheel_and_runs_it_from_another_folder(
    wheelhouse: Path,
) -> None:
    python = shutil.which("python3", path=SYSTEM_PATH)
    assert python, f"no python3 on {SYSTEM_PATH}: it is a prerequisite (README, Prerequisites)"
    home = wheelhouse.parent / "home"
    elsewhere = home / "elsewhere"
    elsewhere.mkdir(parents=True)
    config = stack_config(home / "data")  # free ports: another stack on the defaults is no matter
    (home / "sentio.yaml").write_text(
        yaml.safe_dump(config.model_dump(mode="json", exclude_none=True))
    )
    shutil.copy(REPO / "config/sentio.yaml", home / "sample.yaml")
    for path in (home, *home.rglob("*")):
        os.chown(path, NOBODY, NOBODY)
    env = {"HOME": str(home), "PATH": SYSTEM_PATH, "LANG": "C.UTF-8", "COLUMNS": "200"}

    def user(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *args],
            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    def ok(*args: str) -> str:
        proc = user(*args)
        assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr}"
        return proc.stdout

    ok(python, "-m", "venv", str(home / "venv"))
    pip = str(home / "venv/bin/pip")
    ok(pip, "install", "-q", "--no-index", "--find-links", str(wheelhouse), "sentio-iot[all]")
    sentio = str(home / "venv/bin/sentio")
    assert ok(sentio, "--version").strip() == "sentio 0.1.0"
    assert ok(sentio, "config", "validate", "-c", str(home / "sample.yaml")).endswith(": OK\n")
    listed = user(sentio, "connectors", "list")
    assert listed.returncode == 0 and "cannot load" not in listed.stderr, listed.stderr
    for name in ("modbus", "opcua", "mqtt", "zigbee2mqtt", "homeassistant"):
        assert name in listed.stdout
    # nothing runs: status says so per backend with the pinned version, doctor names each problem
    status = user(sentio, "stack", "status", "--json", "-c", str(home / "sentio.yaml"))
    assert status.returncode == 1, status.stderr
    states = json.loads(status.stdout)
    assert {s["name"] for s in states} >= {"victoriametrics", "alertmanager", "vmalert"}
    for state in states:
        assert state["pid"] is None and state["version"] == "" and state["pinned"], state
    doctor = user(sentio, "doctor", "-c", str(home / "sentio.yaml"))
    assert doctor.returncode == 1 and "Traceback" not in doctor.stderr, doctor.stderr
    [spool] = [line for line in doctor.stdout.splitlines() if line[6:30].strip() == "spool"]
    assert spool.startswith("ok") and f"{home}/data/spool" in spool, spool
    assert "not healthy" in doctor.stdout and "start it with `sentio stack up`" in doctor.stdout


def _pinned(key: str) -> str:
    for line in (REPO / "versions.env").read_text().splitlines():
        if line.startswith(f"{key}="):
            return line.partition("=")[2].strip()
    raise AssertionError(f"{key} not in versions.env")
