"""Apply dashboards, rules and the Alertmanager config to the native stack, all or nothing.

Every file is rendered, then checked by the engine that will read it (`vmalert -dryRun` for
rule files, `amtool check-config` for Alertmanager's config) before anything is replaced; then
the files are swapped in and the running engines reload. A reload that fails puts the previous
files back, so the running rules stay as they were.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sentio.dashboards import alertmanager, catalog, rules, vmalert, vmui
from sentio.dashboards.model import RuleGroup

from sentio.config import SentioConfig
from sentio.errors import ProvisionError
from sentio.stack.backends import Backend, Tool, alertmanager_config_file, backends, tools
from sentio.stack.install import binary_path, install_one
from sentio.stack.versions import load_versions

Progress = Callable[[str], None]
RULE_FILE = "sentio.yml"
FAILED_RULE = re.compile(r'invalid group "(?P<group>[^"]+)".*?rule "(?P<rule>[^"]+)"', re.S)
RELOAD_TIMEOUT = aiohttp.ClientTimeout(total=10)
SECRET_MODE = 0o600


@dataclass(frozen=True)
class Output:
    """One file to write: where, what, who checks it, and who reloads after."""

    path: Path
    text: str
    check: str | None = None  # "vmalert" or "amtool"
    reload: str | None = None  # the backend to reload
    mode: int = 0o644

    def changed(self) -> bool:
        """Return whether the file's content differs from ``text``."""
        try:
            return self.path.read_text(encoding="utf-8") != self.text
        except OSError:
            return True


@dataclass(frozen=True)
class Result:
    """What one provisioning run did."""

    written: list[Path]
    unchanged: list[Path]
    reloaded: list[str]


def outputs(config: SentioConfig, groups: Sequence[RuleGroup] | None = None) -> list[Output]:
    """Return every file the native stack needs, rendered from the declarations."""
    stack = config.stack
    groups = rules.rule_groups(config.alerting) if groups is None else groups
    metric_groups = [g for g in groups if g.language == "promql"]
    log_groups = [g for g in groups if g.language == "logsql"]
    am_text, secrets = alertmanager.render(config)
    out = [
        Output(stack.rules_dir("metrics") / RULE_FILE, vmalert.render_file(config, metric_groups),
               "vmalert", "vmalert"),
        Output(stack.rules_dir("logs") / RULE_FILE, vmalert.render_file(config, log_groups),
               "vmalert", "vmalert-logs"),
        *(Output(s.path, s.text, mode=SECRET_MODE) for s in secrets if s.text is not None),
        Output(alertmanager.template_path(config), alertmanager.TEMPLATES),
        Output(alertmanager_config_file(stack), am_text, "amtool", "alertmanager"),
    ]  # fmt: skip
    out += [Output(dashboard_file(config, i, d.uid), vmui.render_text(d))
            for i, d in enumerate(catalog.DASHBOARDS)]  # fmt: skip
    return out


def dashboard_file(config: SentioConfig, index: int, uid: str) -> Path:
    """Return where vmui's dashboard ``uid`` goes; vmui shows its tabs in file-name order."""
    return config.stack.stack_config_dir() / "dashboards" / f"{index + 1:02d}-{uid}.json"


def stale(config: SentioConfig, planned: list[Output]) -> list[Path]:
    """Return Sentio's dashboard files that no dashboard renders to any more."""
    folder = config.stack.stack_config_dir() / "dashboards"
    keep = {o.path for o in planned}
    return sorted(p for p in folder.glob("*sentio-*.json") if p not in keep)


@functools.cache
def _binary(name: str, bin_dir: Path | None) -> Path | None:
    """Return the checker's binary if this machine has it built (`sentio stack install`)."""
    versions = load_versions()
    every: dict[str, Backend | Tool] = {**backends(versions), **tools(versions)}
    program = every[name]
    path = binary_path(program, bin_dir)
    if not path.exists():
        return None
    install_one(program, bin_dir, lambda _message: None)  # verified once, then cached
    return path


def _check(output: Output, staged: Path, config: SentioConfig, progress: Progress) -> None:
    if output.check is None:
        return
    binary = _binary(output.check, config.stack.bin_dir)
    if binary is None:
        # in a container beside the engines: each refuses a bad file itself and keeps the old
        progress(f"{output.path}: not checked ({output.check} is not installed here)")
        return
    if output.check == "vmalert":
        args = [str(binary), "-dryRun", f"-rule={staged}"]
    else:
        args = [str(binary), "check-config", str(staged)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
    if proc.returncode == 0:
        return
    text = (proc.stdout + proc.stderr).strip()
    where = FAILED_RULE.search(text)
    named = f" (group {where['group']!r}, rule {where['rule']!r})" if where else ""
    detail = text.splitlines()[-1] if text else f"exit {proc.returncode}"
    raise ProvisionError(f"{output.path}{named}: rejected by {output.check}: {detail}")


NOT_RUNNING = "not running"


async def _reload(session: aiohttp.ClientSession, url: str) -> str | None:
    """POST the engine's reload endpoint; return None when it reloaded, else why not."""
    try:
        async with session.post(f"{url}/-/reload", timeout=RELOAD_TIMEOUT) as resp:
            if resp.status == 200:
                return None
            return f"HTTP {resp.status}: {(await resp.text()).strip()[:300]}"
    except aiohttp.ClientConnectorError:
        return NOT_RUNNING  # it reads the files when it starts
    except (aiohttp.ClientError, TimeoutError) as exc:
        return f"{type(exc).__name__}: {exc}"


async def _reload_all(config: SentioConfig, names: Iterable[str]) -> dict[str, str | None]:
    async with aiohttp.ClientSession() as session:
        names = list(names)
        answers = await asyncio.gather(*(_reload(session, config.stack.url(n)) for n in names))
    return dict(zip(names, answers, strict=True))


def _owner(config: SentioConfig) -> tuple[int, int] | None:
    """Return the uid and gid Alertmanager runs as, when it is another user than this one."""
    run_as = config.stack.alertmanager.run_as
    if run_as is None:
        return None
    uid, _, gid = run_as.partition(":")
    return int(uid), int(gid)


def write_secret(config: SentioConfig, path: Path, text: str) -> None:
    """Write a secret file 0600 in a 0700 folder, owned by Alertmanager's user if it is another."""
    output = Output(path, text, mode=SECRET_MODE)
    _stage(output, _owner(config)).replace(path)


def _stage(output: Output, owner: tuple[int, int] | None = None) -> Path:
    output.path.parent.mkdir(parents=True, exist_ok=True)
    secret = output.mode == SECRET_MODE
    if secret:
        output.path.parent.chmod(0o700)
    staged = output.path.with_name(f".{output.path.name}.new")
    # a check reads the staged file where it will live, so relative references resolve alike
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, output.mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(output.text)
    if secret and owner is not None:
        try:
            os.chown(output.path.parent, *owner)
            os.chown(staged, *owner)
        except OSError as exc:
            staged.unlink(missing_ok=True)
            raise ProvisionError(
                f"{output.path}: cannot give it to Alertmanager's user {owner[0]}:{owner[1]} "
                f"(stack.alertmanager.run_as): {exc.strerror}; run `sentio provision` as root"
            ) from exc
    return staged


def apply(
    config: SentioConfig,
    progress: Progress,
    dry_run: bool = False,
    groups: Sequence[RuleGroup] | None = None,
) -> Result:
    """Check every changed file, swap them in together, reload; undo all of it on failure.

    ``groups`` replaces Sentio's rule groups (``sentio.dashboards.rules``) when given.
    """
    planned = outputs(config, groups)
    changed = [o for o in planned if o.changed()]
    unchanged = [o.path for o in planned if o not in changed]
    old = stale(config, planned)
    if dry_run or not changed:
        if not dry_run:
            for path in old:
                path.unlink(missing_ok=True)
        return Result([o.path for o in changed], unchanged, [])
    owner = _owner(config)
    staged = {o.path: _stage(o, owner) for o in changed}
    backups: dict[Path, str | None] = {}
    try:
        for output in changed:
            _check(output, staged[output.path], config, progress)
        for output in changed:
            backups[output.path] = (
                output.path.read_text(encoding="utf-8") if output.path.exists() else None
            )
            staged[output.path].replace(output.path)
        for path in old:
            backups[path] = path.read_text(encoding="utf-8")
            path.unlink()
        to_reload = sorted({o.reload for o in changed if o.reload})
        answers = asyncio.run(_reload_all(config, to_reload))
        errors = {n: e for n, e in answers.items() if e and e != NOT_RUNNING}
        if errors:
            raise ProvisionError(
                "; ".join(f"{name} refused the new config: {e}" for name, e in errors.items())
            )
    except BaseException:
        _restore(backups)
        if backups:
            asyncio.run(_reload_all(config, sorted({o.reload for o in changed if o.reload})))
        raise
    finally:
        for path in staged.values():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    for output in changed:
        progress(f"wrote {output.path}")
    return Result([o.path for o in changed], unchanged, [n for n, e in answers.items() if not e])


def _restore(backups: dict[Path, str | None]) -> None:
    for path, text in backups.items():
        if text is None:
            path.unlink(missing_ok=True)
        else:
            path.write_text(text, encoding="utf-8")
