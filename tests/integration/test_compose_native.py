"""docker compose's services, run natively as the users their images run as, on the same files.

No Docker engine runs here, so each service's command line from docker-compose.yml is run
against the pinned binaries, with its volumes as folders (a path inside the container becomes
a folder of the test's, the one difference) and as the user the service runs as: root where
the image or compose says so, `nobody` for Alertmanager. A file a service cannot read or a
folder it cannot write fails here as it would in the container.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from sentio.config import SentioConfig
from sentio.demo import provision_demo
from sentio.stack.backends import backends
from sentio.stack.install import install_one
from sentio.stack.versions import load_versions
from tests.conftest import free_port, free_ports

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.skipif(os.geteuid() != 0, reason="switching to the services' users needs root"),
]
REPO = Path(__file__).resolve().parents[2]
NOBODY = 65534  # the Alertmanager image's user and group
SENTIO = str(Path(sys.executable).parent / "sentio")


def compose() -> dict[str, Any]:
    """Return docker-compose.yml."""
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


def as_user(uid: int, args: list[str]) -> list[str]:
    """Return ``args`` run as ``uid`` (its own group, no others), as a container's user."""
    return ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", *args]


class Volumes:
    """The services' volumes as folders, and the container paths they stand for."""

    def __init__(self, root: Path, service: dict[str, Any]) -> None:
        self.paths: dict[str, Path] = {}
        for volume in service.get("volumes", []):
            source, target, *_ = volume.split(":")
            if source.startswith("./"):
                self.paths[target] = root / "binds" / target.strip("/").replace("/", "_")
                self.paths[target].parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / source, self.paths[target])
            else:
                self.paths[target] = root / "volumes" / source
                self.paths[target].mkdir(parents=True, exist_ok=True)  # a new volume: root's

    def map(self, text: str) -> str:
        """Return ``text`` with each container path (a whole path, not a part) as its folder."""
        for target in sorted(self.paths, key=len, reverse=True):
            pattern = rf"(?<![\w./-]){re.escape(target)}(?![\w.-])"
            text = re.sub(pattern, lambda _m, t=target: str(self.paths[t]), text)
        return text


@pytest.fixture
def host_root() -> Iterator[Path]:
    """Yield a folder every user can traverse, as `/` is in a container (pytest's is 0700)."""
    root = Path(tempfile.mkdtemp(prefix="sentio-compose-"))
    root.chmod(0o755)
    try:
        yield root
    finally:
        shutil.rmtree(root)


@pytest.fixture
def provisioned(host_root: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """Run sentio-config's command as its user (root); yield compose and the test root."""
    tmp_path = host_root
    services = compose()["services"]
    config = services["sentio-config"]
    assert config["user"] == "0:0"
    volumes = Volumes(tmp_path, config)
    mapped = volumes.paths["/etc/sentio-compose.yaml"]
    mapped.write_text(volumes.map(mapped.read_text()))
    args = [SENTIO if a == "sentio" else volumes.map(a) for a in config["command"]]
    env = {**os.environ, "SENTIO_SLACK_WEBHOOK_URL": "https://hooks.slack.invalid/services/T/B/x"}
    proc = subprocess.run(
        [SENTIO, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    yield services, tmp_path


def test_alertmanager_as_nobody_reads_its_config_and_only_it_the_secret(
    provisioned: tuple[dict[str, Any], Path],
) -> None:
    services, root = provisioned
    service = services["alertmanager"]
    volumes = Volumes(root, service)
    os.chown(volumes.paths["/alertmanager"], NOBODY, NOBODY)  # the image's folder, as a volume
    config = yaml.safe_load(volumes.paths["/etc/sentio"].joinpath("alertmanager.yml").read_text())
    secrets = [
        Path(c[key]) for r in config["receivers"]
        for c in r.get("slack_configs", []) + r.get("webhook_configs", [])
        for key in ("api_url_file", "url_file") if key in c
    ]  # fmt: skip
    assert secrets, "Slack is configured, so its webhook URL is a file"
    for secret in secrets:
        read = subprocess.run(
            as_user(NOBODY, ["cat", str(secret)]), capture_output=True, check=False
        )
        assert read.returncode == 0, read.stderr  # compose's Alertmanager reads it as nobody
        other = subprocess.run(
            as_user(1000, ["cat", str(secret)]), capture_output=True, check=False
        )
        assert other.returncode != 0  # and no other user does
    alertmanager = install_one(backends(load_versions())["alertmanager"], None, lambda _m: None)
    binary = root / "bin" / "alertmanager"  # in the image, not in root's home as here
    binary.parent.mkdir()
    shutil.copy(alertmanager.path, binary)
    port = free_port()
    args = [volumes.map(a) for a in service["command"]]
    # in its container it listens on every address of its own; here one free loopback port
    args += [f"--web.listen-address=127.0.0.1:{port}"]
    proc = subprocess.Popen(
        as_user(NOBODY, [str(binary), *args]),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        ready = False
        while time.monotonic() < deadline and proc.poll() is None and not ready:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                    ready = r.status == 200
            except OSError:
                time.sleep(0.2)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert ready, f"Alertmanager as nobody did not start: {out[-2000:]}"
    assert "permission denied" not in out.lower(), out[-2000:]


def test_the_demos_volume_and_user_let_it_write_the_config_and_its_slack_stand_in_is_reachable(
    tmp_path: Path,
) -> None:
    services = compose()["services"]
    demo, config = services["sentio-demo"], services["sentio-config"]
    mounts = dict(v.split(":")[1::-1] for v in demo["volumes"])
    assert mounts.get("/etc/sentio") == "sentio-config"  # where `sentio provision` writes
    assert demo.get("user") == config["user"] == "0:0"  # the volume's owner, and chown's right
    assert demo["image"] == config["image"] and "build" not in demo  # one image, built once
    assert demo["hostname"] == "sentio-demo"
    assert "SENTIO_SLACK_WEBHOOK_URL" in demo["environment"]
    compose_yaml = yaml.safe_load((REPO / "config" / "sentio-compose.yaml").read_text())
    assert compose_yaml["stack"]["host"] == "0.0.0.0"
    assert compose_yaml["stack"]["alertmanager"]["run_as"] == f"{NOBODY}:{NOBODY}"


class _Loop:
    """The part of the demo's Plant that provision_demo uses: an event loop in a thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever)
        self.thread.start()
        self.stoppers: list[Callable[[], Awaitable[None]]] = []

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wait() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout=30)

    def on_stop(self, stop: Callable[[], Awaitable[None]]) -> None:
        self.stoppers.append(stop)

    def stop(self) -> None:
        for stop in self.stoppers:
            self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


def test_the_demos_slack_stand_in_is_reachable_by_name_and_its_url_only_alertmanagers(
    host_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo = compose()["services"]["sentio-demo"]
    volumes = Volumes(host_root, demo)
    text = volumes.map(volumes.paths["/etc/sentio-compose.yaml"].read_text())
    data = yaml.safe_load(text)
    ports = iter(free_ports(6))
    for backend in ("victoriametrics", "victorialogs", "alertmanager"):  # none of anyone's
        data["stack"].setdefault(backend, {})["port"] = next(ports)
    data["stack"]["vmalert"] = {"port": next(ports), "logs_port": next(ports)}
    data["stack"]["jaeger"] = {"query_port": next(ports)}
    config = SentioConfig.model_validate(data)
    monkeypatch.delenv(config.alerting.slack.webhook_url_env, raising=False)
    plant = _Loop()
    try:
        said = provision_demo(config, plant)  # type: ignore[arg-type]
        hook = volumes.paths["/etc/sentio"] / "secrets" / "demo-slack-webhook-url"
        assert (hook.stat().st_uid, hook.stat().st_mode & 0o777) == (NOBODY, 0o600)
        read = subprocess.run(as_user(NOBODY, ["cat", str(hook)]), capture_output=True, text=True)
        url = read.stdout.strip()
        assert url.startswith(f"http://{socket.gethostname()}:"), url  # compose's `hostname:`
        assert url in said
        body = json.dumps({"text": "from Alertmanager's container"}).encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as resp:
            assert resp.status == 200
    finally:
        plant.stop()
