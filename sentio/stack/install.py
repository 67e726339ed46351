"""Build the pinned backends into a cache outside the clone, once, and verify them."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from sentio.errors import BackendBuildError, StackError
from sentio.stack.backends import Backend, Tool
from sentio.stack.gobuild import GoProgram, build
from sentio.stack.golang import ensure_go
from sentio.stack.versions import load_versions

Progress = Callable[[str], None]
Installable = Backend | Tool


def cache_root() -> Path:
    """Return Sentio's cache: `$SENTIO_CACHE_DIR`, else `$XDG_CACHE_HOME/sentio`."""
    if "SENTIO_CACHE_DIR" in os.environ:
        return Path(os.environ["SENTIO_CACHE_DIR"]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    return base / "sentio"


def default_bin_dir() -> Path:
    """Return where built backends are kept."""
    return cache_root() / "bin"


def _program(backend: Installable) -> GoProgram:
    if backend.program is None:
        raise StackError(f"{backend.name} is a Sentio process: there is nothing to build")
    return backend.program


def binary_path(backend: Installable, bin_dir: Path | None = None) -> Path:
    """Return where the pinned build of ``backend`` lives (the Python for a Sentio process)."""
    program = backend.program
    if program is None:
        return Path(sys.executable)
    return (bin_dir or default_bin_dir()) / program.name / program.version / program.binary


@dataclass(frozen=True)
class InstallResult:
    """What installing one backend did."""

    name: str
    version: str
    path: Path
    cached: bool
    seconds: float
    reported_version: str


def verify(backend: Installable, path: Path) -> str:
    """Run the binary's version command; return its first line or raise."""
    try:
        proc = subprocess.run(
            [str(path), *_program(backend).version_args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendBuildError(f"{backend.name}: {path} does not run: {exc}") from exc
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise BackendBuildError(
            f"{backend.name}: `{path} {' '.join(_program(backend).version_args)}` exited "
            f"{proc.returncode}: {output[-500:]}"
        )
    lines = [ln for ln in output.splitlines() if "version" in ln.lower()] or output.splitlines()
    return lines[0].strip() if lines else ""


def install_one(backend: Installable, bin_dir: Path | None, progress: Progress) -> InstallResult:
    """Build ``backend`` unless a verified build of its pinned version is cached.

    A build is verified once, by running it, and the result is kept beside it.
    """
    started = time.monotonic()
    path = binary_path(backend, bin_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = path.parent / ".verified"
        cached = path.exists()
        if cached and stamp.exists() and stamp.stat().st_mtime >= path.stat().st_mtime:
            reported = stamp.read_text(encoding="utf-8").strip()
        else:
            if not cached:
                progress(f"{backend.name} {_program(backend).version}: building")
                go = ensure_go(load_versions()["GO_VERSION"], cache_root(), progress)
                build(_program(backend), path.parent, cache_root() / "build", progress, go)
            reported = verify(backend, path)
            stamp.write_text(reported + "\n", encoding="utf-8")
    seconds = time.monotonic() - started
    state = "cached" if cached else f"built in {seconds:.0f}s"
    progress(f"{backend.name} {_program(backend).version}: {state}, {reported or 'runs'}")
    return InstallResult(backend.name, _program(backend).version, path, cached, seconds, reported)


def install(
    selected: Iterable[Installable], bin_dir: Path | None, progress: Progress
) -> list[InstallResult]:
    """Install every selected backend in turn; backends that share a program build it once."""
    results: list[InstallResult] = []
    done: set[tuple[str, str]] = set()
    for backend in selected:
        if backend.program is None:
            continue  # a Sentio process: nothing to build
        key = (backend.program.name, _program(backend).version)
        if key not in done:
            done.add(key)
            results.append(install_one(backend, bin_dir, progress))
    return results
