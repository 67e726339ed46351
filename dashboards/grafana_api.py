"""Provision a user's Grafana: a plan against what is there, a diff, then all of it or nothing.

Each dashboard Sentio saves carries the version message `sentio:<hash of what it sent>`. A
dashboard whose newest version has another message was saved by someone else since, and is not
overwritten without ``force``. Applying records how to undo each step; a failure undoes the
steps already taken, newest first.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from grafana_client.api import GrafanaApi
from grafana_client.client import (
    GrafanaClientError,
    GrafanaException,
    GrafanaUnauthorizedError,
)
from niquests.exceptions import RequestException
from sentio.dashboards import catalog, grafana

from sentio.config import GrafanaConfig, SentioConfig
from sentio.errors import ConfigError, GrafanaError

Kind = Literal["datasource", "dashboard", "folder"]
Verb = Literal["create", "update", "unchanged", "conflict"]
MARK = "sentio:"
DATASOURCE_KEYS = ("uid", "name", "type", "url", "access", "isDefault", "jsonData")
VOLATILE = ("id", "version", "iteration")
PROVISIONED_PATH = "/etc/grafana/provisioning/dashboards/sentio"
Progress = Callable[[str], None]


def digest(data: Mapping[str, Any]) -> str:
    """Return a short stable hash of a JSON document."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _pretty(data: Mapping[str, Any] | None) -> list[str]:
    if data is None:
        return []
    clean = {k: v for k, v in data.items() if k not in VOLATILE}
    return json.dumps(clean, indent=2, sort_keys=True).splitlines(keepends=True)


@dataclass(frozen=True)
class Live:
    """What Grafana holds for one object: its JSON and, for a dashboard, its newest message."""

    data: Mapping[str, Any]
    message: str = ""


@dataclass(frozen=True)
class Step:
    """One planned change (or not) to one object."""

    kind: Kind
    uid: str
    verb: Verb
    desired: Mapping[str, Any]
    live: Live | None = None

    def diff(self) -> str:
        """Return a unified diff from what is there to what Sentio would write."""
        before = _pretty(self.live.data if self.live else None)
        lines = difflib.unified_diff(
            before, _pretty(self.desired), f"grafana/{self.kind}/{self.uid}", f"sentio/{self.uid}"
        )
        return "".join(lines)


@dataclass(frozen=True)
class Plan:
    """Every step, in the order they are applied (folder, datasources, dashboards)."""

    steps: list[Step] = field(default_factory=list)

    def changes(self) -> list[Step]:
        """Return the steps that would change something."""
        return [s for s in self.steps if s.verb in ("create", "update")]

    def conflicts(self) -> list[Step]:
        """Return the dashboards someone changed in Grafana since Sentio wrote them."""
        return [s for s in self.steps if s.verb == "conflict"]


def plan_datasource(desired: Mapping[str, Any], live: Live | None) -> Step:
    """Plan one datasource: create it, update what differs, or leave it."""
    uid = str(desired["uid"])
    if live is None:
        return Step("datasource", uid, "create", desired)
    same = all(live.data.get(k) == desired.get(k) for k in DATASOURCE_KEYS if k in desired)
    return Step("datasource", uid, "unchanged" if same else "update", desired, live)


def plan_dashboard(desired: Mapping[str, Any], live: Live | None, force: bool) -> Step:
    """Plan one dashboard, refusing to overwrite a dashboard someone else saved since."""
    uid = str(desired["uid"])
    if live is None:
        return Step("dashboard", uid, "create", desired)
    if live.message == MARK + digest(desired):
        return Step("dashboard", uid, "unchanged", desired, live)
    if not live.message.startswith(MARK) and not force:
        return Step("dashboard", uid, "conflict", desired, live)
    return Step("dashboard", uid, "update", desired, live)


def desired_dashboards() -> list[dict[str, Any]]:
    """Return every dashboard as Grafana JSON."""
    return [grafana.to_json(d) for d in catalog.DASHBOARDS]


def _token(config: GrafanaConfig) -> str:
    if config.token_file is not None:
        try:
            token = config.token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"grafana.token_file: cannot read {config.token_file}") from exc
    else:
        token = os.environ.get(config.token_env, "").strip()
    if not token:
        raise ConfigError(
            f"no Grafana token: set {config.token_env} or grafana.token_file "
            "(a service-account token with the Editor role, or Admin for datasources)"
        )
    return token


def connect(config: GrafanaConfig, url: str | None) -> GrafanaApi:
    """Return a client for the Grafana at ``url`` (or the config's), with the configured token."""
    base = url or config.url
    if not base:
        raise ConfigError("no Grafana URL: pass --url or set grafana.url")
    api: GrafanaApi = GrafanaApi.from_url(base, credential=_token(config), timeout=10.0)
    return api


class Grafana:
    """The few Grafana API calls provisioning needs, with Grafana's errors made Sentio's."""

    def __init__(self, api: GrafanaApi, where: str) -> None:
        self.api = api
        self.where = where

    def close(self) -> None:
        """Close the HTTP session (and its connection-watching thread)."""
        self.api.client.s.close()

    def __enter__(self) -> Grafana:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        try:
            return call()
        except GrafanaUnauthorizedError as exc:
            raise GrafanaError(
                f"{self.where}: {what}: the token was rejected (401): give a valid "
                "service-account token"
            ) from exc
        except GrafanaClientError as exc:
            if exc.status_code == 404:
                return None
            raise GrafanaError(f"{self.where}: {what}: {exc.status_code} {exc.message}") from exc
        except (GrafanaException, RequestException) as exc:
            raise GrafanaError(f"{self.where}: {what}: {type(exc).__name__}: {exc}") from exc

    def check(self) -> None:
        """Fail unless Grafana answers and accepts the token."""
        self._call("health", self.api.health.check)
        self._call("who am I", lambda: self.api.user.get_actual_user())

    def datasource(self, uid: str) -> Live | None:
        """Return the datasource ``uid``, or None."""
        data = self._call(
            f"datasource {uid}", lambda: self.api.datasource.get_datasource_by_uid(uid)
        )
        return Live(data) if data else None

    def dashboard(self, uid: str) -> Live | None:
        """Return the dashboard ``uid`` with its newest version's message, or None."""
        found = self._call(f"dashboard {uid}", lambda: self.api.dashboard.get_dashboard(uid))
        if not found:
            return None
        versions = self._call(
            f"dashboard {uid} versions",
            lambda: self.api.dashboard_versions.get_dashboard_versions_by_uid(uid),
        )
        items = versions.get("versions", versions) if isinstance(versions, dict) else versions
        newest: dict[str, Any] = max(
            items or [], key=lambda v: int(v.get("version", 0)), default={}
        )
        return Live(found["dashboard"], str(newest.get("message", "")))

    def folder(self, uid: str, title: str) -> Callable[[], None] | None:
        """Make sure folder ``uid`` exists; return how to undo creating it, if it was created."""
        if self._call(f"folder {uid}", lambda: self.api.folder.get_folder(uid)):
            return None
        self._call(f"create folder {uid}", lambda: self.api.folder.create_folder(title, uid=uid))
        return lambda: self._call(
            f"delete folder {uid}", lambda: self.api.folder.delete_folder(uid)
        )

    def put_datasource(self, step: Step) -> Callable[[], None]:
        """Create or update a datasource; return how to put back what was there."""
        body = dict(step.desired)
        uid = step.uid
        if step.live is None:
            self._call(
                f"create datasource {uid}", lambda: self.api.datasource.create_datasource(body)
            )
            return lambda: self._call(
                f"delete datasource {uid}",
                lambda: self.api.datasource.delete_datasource_by_uid(uid),
            )
        before = dict(step.live.data)
        self._call(
            f"update datasource {uid}",
            lambda: self.api.datasource.update_datasource_by_uid(uid, {**before, **body}),
        )
        return lambda: self._call(
            f"restore datasource {uid}",
            lambda: self.api.datasource.update_datasource_by_uid(uid, before),
        )

    def put_dashboard(self, step: Step, folder_uid: str) -> Callable[[], None]:
        """Save a dashboard with Sentio's version message; return how to put back what was."""
        uid = step.uid
        body = {
            "dashboard": {**step.desired, "id": None},
            "folderUid": folder_uid,
            "overwrite": True,
            "message": MARK + digest(step.desired),
        }
        self._call(f"save dashboard {uid}", lambda: self.api.dashboard.update_dashboard(body))
        if step.live is None:
            return lambda: self._call(
                f"delete dashboard {uid}", lambda: self.api.dashboard.delete_dashboard(uid)
            )
        previous = {
            "dashboard": {**step.live.data, "id": None},
            "folderUid": folder_uid,
            "overwrite": True,
            "message": step.live.message or "restored by sentio provision after a failure",
        }
        return lambda: self._call(
            f"restore dashboard {uid}", lambda: self.api.dashboard.update_dashboard(previous)
        )


def make_plan(g: Grafana, config: SentioConfig, force: bool) -> Plan:
    """Read what Grafana holds and plan every change."""
    g.check()
    steps = [plan_datasource(d, g.datasource(str(d["uid"]))) for d in grafana.datasources(config)]
    steps += [plan_dashboard(d, g.dashboard(str(d["uid"])), force) for d in desired_dashboards()]
    return Plan(steps)


def apply(g: Grafana, config: SentioConfig, plan: Plan, progress: Progress) -> list[Step]:
    """Apply ``plan`` (which must have no conflicts); on any failure undo what was done."""
    if plan.conflicts():
        uids = ", ".join(s.uid for s in plan.conflicts())
        raise GrafanaError(
            f"{g.where}: dashboard(s) {uids} were changed in Grafana since Sentio saved them; "
            "nothing was changed. See the diff with --dry-run; --force overwrites them"
        )
    undo: list[Callable[[], None]] = []
    done: list[Step] = []
    try:
        created = g.folder("sentio", config.grafana.folder)
        if created is not None:
            undo.append(created)
        for step in plan.changes():
            if step.kind == "datasource":
                undo.append(g.put_datasource(step))
            else:
                undo.append(g.put_dashboard(step, "sentio"))
            done.append(step)
            progress(f"{step.verb}d {step.kind} {step.uid}")
    except GrafanaError:
        for action in reversed(undo):
            try:
                action()
            except GrafanaError as exc:
                progress(f"could not undo: {exc}")
        raise
    return done


def write_files(config: SentioConfig, folder: Path) -> list[Path]:
    """Write Grafana's file-provisioning layout: datasources, a dashboard provider, dashboards."""
    written = []
    sources = folder / "datasources" / "sentio.yaml"
    provider = folder / "dashboards" / "sentio.yaml"
    boards = folder / "dashboards" / "sentio"
    boards.mkdir(parents=True, exist_ok=True)
    sources.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `sentio provision grafana --files`; regenerate, do not edit.\n"
    datasources = [
        {**{k: v for k, v in d.items() if k != "uid"}, "uid": d["uid"], "editable": False}
        for d in grafana.datasources(config)
    ]
    sources.write_text(
        header + yaml.safe_dump({"apiVersion": 1, "datasources": datasources}, sort_keys=False)
    )
    provider.write_text(
        header
        + yaml.safe_dump(
            {
                "apiVersion": 1,
                "providers": [
                    {
                        "name": "sentio",
                        "folder": config.grafana.folder,
                        "folderUid": "sentio",
                        "type": "file",
                        "disableDeletion": True,
                        "allowUiUpdates": False,
                        "options": {"path": PROVISIONED_PATH},
                    }
                ],
            },
            sort_keys=False,
        )
    )
    written += [sources, provider]
    for board in desired_dashboards():
        path = boards / f"{board['uid']}.json"
        path.write_text(json.dumps(board, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written
