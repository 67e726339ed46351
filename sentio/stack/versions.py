"""Read the pinned backend versions and locate the backends' config files."""

from __future__ import annotations

import os
from pathlib import Path

from sentio.errors import StackError

Versions = dict[str, str]
# Package data: in a checkout, links to the repo's `versions.env` and `config/`; in a wheel, copies.
ASSETS = Path(__file__).resolve().parent / "assets"


def versions_file() -> Path:
    """Return the versions file: `$SENTIO_VERSIONS_FILE`, else the one shipped with Sentio."""
    return Path(os.environ.get("SENTIO_VERSIONS_FILE", ASSETS / "versions.env"))


def config_dir() -> Path:
    """Return the folder holding the backends' own configs (Jaeger's)."""
    return Path(os.environ.get("SENTIO_BACKEND_CONFIG_DIR", ASSETS))


def parse_versions(text: str, source: str = "<string>") -> Versions:
    """Parse `KEY=value` lines, skipping blanks and comments."""
    out: Versions = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise StackError(f"{source}:{number}: expected KEY=value, got {raw!r}")
        out[key.strip()] = value.strip().strip('"')
    return out


def load_versions(path: Path | None = None) -> Versions:
    """Load the pinned versions."""
    path = path or versions_file()
    try:
        return parse_versions(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise StackError(f"cannot read the versions file {path}: {exc.strerror}") from exc
