"""Build the tools the manifests are checked with (kustomize) into Sentio's cache, once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sentio.stack.backends import Backend
from sentio.stack.gobuild import GoProgram
from sentio.stack.install import cache_root, install_one
from sentio.stack.versions import Versions, load_versions

KUSTOMIZE_MODULE = "sigs.k8s.io/kustomize/kustomize/v5"
COMPOSE_GO_MODULE = "github.com/compose-spec/compose-go/v2"
Progress = Callable[[str], None]


def kustomize_program(versions: Versions) -> GoProgram:
    """Return kustomize's CLI at the pinned version, built through a wrapper module.

    ``go install`` would name the binary after the package's last element, ``v5``.
    """
    version = versions["KUSTOMIZE_VERSION"]
    return GoProgram(
        name="kustomize",
        module=KUSTOMIZE_MODULE,
        version=version,
        package=KUSTOMIZE_MODULE,
        binary="kustomize",
        version_args=("version",),
        ldflags=(f"-X sigs.k8s.io/kustomize/api/provenance.version={version}",),
    )


def compose_spec_program(versions: Versions) -> GoProgram:
    """Return compose-go's validator at the pinned version (the Compose Specification's loader)."""
    return GoProgram(
        name="compose-spec",
        module=COMPOSE_GO_MODULE,
        version=versions["COMPOSE_GO_VERSION"],
        package=f"{COMPOSE_GO_MODULE}/cmd",
        binary="compose-spec",
        version_args=("-h",),
    )


def _as_backend(program: GoProgram) -> Backend:
    """Wrap a tool as a backend record, so the stack's installer builds and verifies it."""
    return Backend(
        name=program.name,
        program=program,
        args=lambda _s, _d: [],
        env=lambda _s, _d: {},
        health_path="",
        port=lambda _s: 0,
        ports=lambda _s: [],
    )


def ensure_kustomize(progress: Progress = print, bin_dir: Path | None = None) -> Path:
    """Return the pinned kustomize binary, building it from the Go module proxy on first use."""
    result = install_one(
        _as_backend(kustomize_program(load_versions())), bin_dir or cache_root() / "bin", progress
    )
    return result.path


def ensure_compose_spec(progress: Progress = print, bin_dir: Path | None = None) -> Path:
    """Return the pinned compose-go validator, building it from the Go module proxy on first use."""
    result = install_one(
        _as_backend(compose_spec_program(load_versions())),
        bin_dir or cache_root() / "bin",
        progress,
    )
    return result.path
