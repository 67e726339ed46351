"""Headless Chromium (Debian's package) for what a person looks at."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# as root Chromium needs --no-sandbox; the rest keeps it off the (closed) network
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


def _run(args: list[str], timeout_s: float) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="sentio-chromium-") as profile:
        return subprocess.run(
            [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )


def dom(url: str, wait_ms: int = 8000, timeout_s: float = 90) -> str:
    """Return the page's DOM after its scripts ran for ``wait_ms`` (virtual time)."""
    proc = _run([f"--virtual-time-budget={wait_ms}", "--dump-dom", url], timeout_s)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def screenshot(url: str, path: Path, wait_ms: int = 8000, timeout_s: float = 90) -> Path:
    """Save a 1600x1200 screenshot of ``url`` to ``path`` and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    proc = _run(
        [
            f"--virtual-time-budget={wait_ms}",
            "--window-size=1600,1200",
            f"--screenshot={path}",
            url,
        ],
        timeout_s,
    )
    assert proc.returncode == 0 and path.is_file(), proc.stderr[-2000:]
    return path
