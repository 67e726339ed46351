"""Build a Go program of a pinned module version through the module proxy.

Modules whose go.mod has replace or exclude directives cannot be built with a plain
``go install mod/cmd@version``: the go command ignores those directives in a dependency.
For them a small wrapper module is generated that requires the module at the pinned
version and repeats its directives; a relative replace (a nested module of the same
repository) becomes that nested module's pseudo-version at the same commit.

A module that cannot build as published (Alertmanager embeds a web UI that is generated at
release time and absent from the module) is built from a copy in the build folder with the
missing files added, which the wrapper requires through a replace to that folder; Go's
``-overlay`` cannot do it, since files beneath GOMODCACHE must not be replaced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentio.errors import BackendBuildError

Progress = Callable[[str], None]
PSEUDO = re.compile(r"(?P<time>\d{14})-(?P<hash>[0-9a-f]{12})$")


@dataclass(frozen=True)
class GoProgram:
    """What to build: a main package of a module at a pinned version."""

    name: str
    module: str
    version: str
    package: str
    binary: str
    version_args: tuple[str, ...] = ("-version",)
    ldflags: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    wrapper: bool = True
    extra_env: Mapping[str, str] = field(default_factory=dict)
    add_files: Mapping[str, str] = field(default_factory=dict)


def go_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return the environment for go commands: local toolchain, no cgo."""
    env = dict(os.environ if base is None else base)
    env.setdefault("GOTOOLCHAIN", "local")
    env.setdefault("CGO_ENABLED", "0")
    return env


def run_go(args: Sequence[str], cwd: Path, env: Mapping[str, str], log: Path) -> str:
    """Run the first `go` on ``env``'s PATH, logging to ``log``; raise with its tail on failure."""
    go = shutil.which("go", path=env.get("PATH"))
    if go is None:
        raise BackendBuildError("no `go` on PATH (`sentio stack install` installs the pinned one)")
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ go {' '.join(args)}\n")
        out.flush()
        try:
            proc = subprocess.run(
                [go, *args], cwd=cwd, env=dict(env), capture_output=True, text=True,
                check=False,
            )  # fmt: skip
        except OSError as exc:
            raise BackendBuildError(f"cannot run Go ({go}): {exc.strerror}") from exc
        out.write(proc.stderr)
        if proc.returncode != 0:
            tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
            raise BackendBuildError(f"`go {' '.join(args)}` failed in {cwd}:\n{tail}")
    return proc.stdout


def pseudo_version(commit_time: str, commit_hash: str) -> str:
    """Return the v0.0.0 pseudo-version of a commit."""
    when = datetime.fromisoformat(commit_time.replace("Z", "+00:00")).astimezone(UTC)
    return f"v0.0.0-{when:%Y%m%d%H%M%S}-{commit_hash[:12]}"


def module_info(
    program: GoProgram, work: Path, env: Mapping[str, str], log: Path
) -> dict[str, Any]:
    """Download the pinned module and return ``go mod download -json`` facts about it."""
    out = run_go(
        ["mod", "download", "-json", f"{program.module}@{program.version}"], work, env, log
    )
    info: dict[str, Any] = json.loads(out)
    if info.get("Error"):
        raise BackendBuildError(f"{program.module}@{program.version}: {info['Error']}")
    return info


def nested_version(
    program: GoProgram, info: Mapping[str, Any], upstream: Mapping[str, Any], nested: str
) -> str:
    """Return the version of a nested module that upstream replaces with a relative path.

    The pseudo-version at the pinned commit when the pin or the proxy tells the commit; else the
    version upstream's own require block names (what the go command would use unreplaced).
    """
    pinned = PSEUDO.search(program.version)
    if pinned:
        return f"v0.0.0-{pinned['time']}-{pinned['hash']}"
    commit = str((info.get("Origin") or {}).get("Hash", ""))
    if commit:
        return pseudo_version(str(info["Time"]), commit)
    for req in upstream.get("Require") or []:
        if req["Path"] == nested:
            return str(req["Version"])
    raise BackendBuildError(
        f"{program.module}@{program.version}: relative replace of {nested} has no commit hash "
        "from the proxy and no required version upstream"
    )


def wrapper_gomod(
    program: GoProgram,
    info: Mapping[str, Any],
    upstream: Mapping[str, Any],
    patched: Path | None = None,
) -> str:
    """Return the go.mod text of a wrapper module for ``program`` (from ``patched`` if given)."""
    lines = [
        f"module sentio.local/build/{program.name}",
        "",
        f"go {upstream.get('Go', '1.22')}",
        "",
        f"require {program.module} {program.version}",
        "",
    ]
    for rep in upstream.get("Replace") or []:
        old, new = rep["Old"], rep["New"]
        old_spec = old["Path"] + (f" {old['Version']}" if old.get("Version") else "")
        if new["Path"].startswith((".", "/")):
            new_spec = f"{old['Path']} {nested_version(program, info, upstream, old['Path'])}"
        else:
            new_spec = new["Path"] + (f" {new['Version']}" if new.get("Version") else "")
        lines.append(f"replace {old_spec} => {new_spec}")
    if patched is not None:
        lines.append(f"replace {program.module} => {patched}")
    for exc in upstream.get("Exclude") or []:
        lines.append(f"exclude {exc['Path']} {exc['Version']}")
    return "\n".join(lines) + "\n"


def _make_writable(tree: Path) -> None:
    for folder, _dirs, _files in os.walk(tree):
        Path(folder).chmod(0o755)


def patched_copy(program: GoProgram, source: Path, work: Path) -> Path:
    """Copy the module at ``source`` into ``work`` and add ``program.add_files``; return it."""
    copy = work / "module"
    if copy.exists():
        _make_writable(copy)
        shutil.rmtree(copy)
    shutil.copytree(source, copy, copy_function=shutil.copyfile)
    _make_writable(copy)  # the module cache is read-only, and copytree copies folder modes
    for relative, text in program.add_files.items():
        target = copy / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return copy


def build(
    program: GoProgram, dest: Path, work_root: Path, progress: Progress, go: Path | None = None
) -> Path:
    """Build ``program`` into ``dest`` (a directory) with ``go`` (PATH's when None)."""
    env = go_env()
    env.update(program.extra_env)
    if go is not None:
        env["PATH"] = os.pathsep.join([str(go.parent), env.get("PATH", os.defpath)])
    work = work_root / f"{program.name}-{program.version}"
    work.mkdir(parents=True, exist_ok=True)
    log = work / "build.log"
    log.write_text("", encoding="utf-8")
    binary = dest / program.binary
    dest.mkdir(parents=True, exist_ok=True)
    tmp_binary = dest / f".{program.binary}.partial"
    build_flags = ["-trimpath", "-o", str(tmp_binary)]
    if program.ldflags:
        build_flags += ["-ldflags", " ".join(program.ldflags)]
    if program.tags:
        build_flags += ["-tags", ",".join(program.tags)]
    if not program.wrapper:
        progress(f"{program.name}: go install {program.package}@{program.version}")
        gobin = work / "gobin"
        env["GOBIN"] = str(gobin)
        args = ["install", "-trimpath", *build_flags[3:], f"{program.package}@{program.version}"]
        run_go(args, work, env, log)
        shutil.move(str(gobin / Path(program.package).name), tmp_binary)
    else:
        progress(f"{program.name}: fetching {program.module}@{program.version}")
        info = module_info(program, work, env, log)
        upstream = json.loads(run_go(["mod", "edit", "-json", str(info["GoMod"])], work, env, log))
        patched = patched_copy(program, Path(str(info["Dir"])), work) if program.add_files else None
        (work / "go.mod").write_text(
            wrapper_gomod(program, info, upstream, patched), encoding="utf-8"
        )
        (work / "tools.go").write_text(
            f'//go:build tools\n\npackage tools\n\nimport _ "{program.package}"\n', encoding="utf-8"
        )
        upstream_sum = Path(str(info.get("Dir", ""))) / "go.sum"
        if upstream_sum.is_file():
            shutil.copyfile(upstream_sum, work / "go.sum")
        progress(
            f"{program.name}: downloading dependencies and compiling (a cold build takes minutes)"
        )
        run_go(["build", "-mod=mod", *build_flags, program.package], work, env, log)
    tmp_binary.replace(binary)
    return binary
