"""The Dockerfile's build, without Docker: exactly what it copies, through its own install step."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "sentio.Dockerfile"
pytestmark = pytest.mark.timeout(300)


def stages() -> list[list[tuple[str, str]]]:
    """Return each stage's instructions as (keyword, rest), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    out: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, rest = line.strip().partition(" ")
        if keyword == "FROM":
            out.append([])
        out[-1].append((keyword, rest.strip()))
    return out


def test_the_wheel_stage_builds_from_exactly_what_it_copies(tmp_path: Path) -> None:
    build, final = stages()
    src, wheels = tmp_path / "src", tmp_path / "wheels"
    workdir = None
    for keyword, rest in build:
        if keyword == "WORKDIR":
            workdir = rest
        elif keyword == "COPY":
            *sources, dest = shlex.split(rest)
            target = src if dest in {".", "./"} else src / dest
            for source in sources:
                path = REPO / source
                if path.is_dir():
                    # COPY keeps a symbolic link a link
                    shutil.copytree(path, target, symlinks=True, dirs_exist_ok=True)
                else:
                    target.mkdir(parents=True, exist_ok=True)
                    shutil.copy(path, target / path.name)
        elif keyword == "RUN":
            command = rest.replace("/wheels", str(wheels)).replace(
                "pip ", f"{sys.executable} -m pip ", 1
            )
            proc = subprocess.run(
                ["sh", "-c", command],
                cwd=src,
                capture_output=True,
                text=True,
                timeout=240,
                check=False,
            )
            assert proc.returncode == 0, proc.stderr[-3000:]
    assert workdir == "/src"
    # the final stage installs the one wheel its glob names
    (install,) = [rest for keyword, rest in final if keyword == "RUN"]
    glob = re.search(r"/wheels/(\S+?\.whl)", install)
    assert glob is not None, install
    (wheel,) = wheels.glob(glob[1])
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = [
        "sentio/cli.py", "sentio/connectors/modbus/__init__.py", "sentio/collectors/registry.py",
        "sentio/ai_engine/engine.py", "sentio/dashboards/provision.py",
        "sentio/simulators/slack.py", "sentio/stack/assets/versions.env",
        "sentio/stack/assets/jaeger.yaml",
    ]  # fmt: skip
    for module in modules:
        assert module in names, module
    assert "[all]" in install and "USER" in {k for k, _ in final}


def test_the_build_context_leaves_out_the_venv_and_caches() -> None:
    ignored = (REPO / ".dockerignore").read_text().split()
    for entry in (".venv", ".git", "**/__pycache__", ".mypy_cache", "tests"):
        assert entry in ignored, entry
    copied = {shlex.split(rest)[0] for stage in stages() for k, rest in stage if k == "COPY"}
    assert not {e.strip("/") for e in ignored} & copied  # nothing copied is ignored
