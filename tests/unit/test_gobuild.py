from __future__ import annotations

from pathlib import Path

import pytest

from sentio.errors import BackendBuildError
from sentio.stack.backends import backends
from sentio.stack.gobuild import GoProgram, patched_copy, pseudo_version, wrapper_gomod
from sentio.stack.versions import load_versions

UPSTREAM = {
    "Go": "1.24.3",
    "Require": [
        {"Path": "example.org/big/nested", "Version": "v0.0.0-20250101000000-aaaaaaaaaaaa"}
    ],
    "Replace": [
        {"Old": {"Path": "k8s.io/api"}, "New": {"Path": "k8s.io/api", "Version": "v0.25.0"}},
        {"Old": {"Path": "example.org/big/nested"}, "New": {"Path": "./nested"}},
        {
            "Old": {"Path": "example.org/old", "Version": "v1.0.0"},
            "New": {"Path": "example.org/fork", "Version": "v1.0.1"},
        },
    ],
    "Exclude": [{"Path": "k8s.io/client-go", "Version": "v8.0.0+incompatible"}],
}


def program(version: str) -> GoProgram:
    return GoProgram("big", "example.org/big", version, "example.org/big/cmd/big", "big")


def test_pseudo_version_uses_utc_commit_time_and_short_hash() -> None:
    assert (
        pseudo_version("2025-05-29T14:47:18+02:00", "87c2dc380ceca577d9c2")
        == "v0.0.0-20250529124718-87c2dc380cec"
    )


def test_wrapper_repeats_directives_and_pins_nested_module_at_the_pinned_commit() -> None:
    text = wrapper_gomod(program("v1.5.1-0.20250529124718-87c2dc380cec"), {}, UPSTREAM)
    lines = text.splitlines()
    assert lines[0] == "module sentio.local/build/big"
    assert "go 1.24.3" in lines
    assert "require example.org/big v1.5.1-0.20250529124718-87c2dc380cec" in lines
    assert "replace k8s.io/api => k8s.io/api v0.25.0" in lines
    nested = "example.org/big/nested"
    assert f"replace {nested} => {nested} v0.0.0-20250529124718-87c2dc380cec" in lines
    assert "replace example.org/old v1.0.0 => example.org/fork v1.0.1" in lines
    assert "exclude k8s.io/client-go v8.0.0+incompatible" in lines


def test_tag_pin_uses_the_commit_the_proxy_reports() -> None:
    info = {"Time": "2026-09-17T13:31:36Z", "Origin": {"Hash": "0123456789abcdef0123"}}
    text = wrapper_gomod(program("v3.7.8"), info, UPSTREAM)
    assert "example.org/big/nested v0.0.0-20260917133136-0123456789ab" in text


def test_tag_pin_without_commit_falls_back_to_upstream_requirement() -> None:
    text = wrapper_gomod(program("v3.7.8"), {"Time": "2026-09-17T13:31:36Z"}, UPSTREAM)
    assert "example.org/big/nested v0.0.0-20250101000000-aaaaaaaaaaaa" in text


def test_no_commit_and_no_requirement_is_a_clear_error() -> None:
    upstream = {**UPSTREAM, "Require": []}
    with pytest.raises(BackendBuildError, match=r"example\.org/big/nested"):
        wrapper_gomod(program("v3.7.8"), {}, upstream)


def test_a_patched_module_is_required_from_its_copy(tmp_path: Path) -> None:
    source = tmp_path / "modcache" / "example.org" / "big@v1.0.0"
    (source / "ui").mkdir(parents=True)
    (source / "go.mod").write_text("module example.org/big\n")
    (source / "ui" / "web.go").write_text("package ui\n")
    for folder in (source / "ui", source):
        folder.chmod(0o555)  # the module cache is read-only
    patched = GoProgram(
        "big", "example.org/big", "v1.0.0", "example.org/big/cmd/big", "big",
        add_files={"ui/app/dist/index.html": "<p>placeholder</p>"},
    )  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()
    try:
        copy = patched_copy(patched, source, work)
        assert (copy / "ui" / "web.go").read_text() == "package ui\n"
        assert (copy / "ui" / "app" / "dist" / "index.html").read_text() == "<p>placeholder</p>"
        assert not (source / "ui" / "app").exists()
        assert patched_copy(patched, source, work) == copy  # a second build starts afresh
    finally:
        for folder in (source, source / "ui"):
            folder.chmod(0o755)
    lines = wrapper_gomod(patched, {}, {"Go": "1.24"}, copy).splitlines()
    assert "require example.org/big v1.0.0" in lines
    assert f"replace example.org/big => {copy}" in lines


def test_alertmanager_is_built_with_its_missing_ui_pages() -> None:
    every = backends(load_versions())
    added = every["alertmanager"].program.add_files
    assert set(added) == {"ui/app/dist/elm/index.html", "ui/app/dist/mantine/index.html"}
    assert every["vmalert"].program == every["vmalert-logs"].program  # one binary, built once
    jaeger = every["jaeger"].program
    assert jaeger.wrapper and not jaeger.add_files
