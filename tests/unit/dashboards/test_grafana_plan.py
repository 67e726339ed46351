from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sentio.dashboards import grafana_api
from sentio.dashboards.grafana_api import Live, Plan, Step, digest, plan_dashboard, plan_datasource

from sentio.config import GrafanaConfig, SentioConfig
from sentio.errors import ConfigError, GrafanaError
from tests.conftest import free_port

BOARD = {"uid": "sentio-fleet", "title": "Fleet", "panels": []}
SOURCE = {"uid": "sentio-vm", "name": "VM", "type": "prometheus", "url": "http://vm:8428"}


def test_a_missing_dashboard_is_created_and_an_unchanged_one_left() -> None:
    assert plan_dashboard(BOARD, None, force=False).verb == "create"
    ours = Live({**BOARD, "id": 7, "version": 3}, "sentio:" + digest(BOARD))
    assert plan_dashboard(BOARD, ours, force=False).verb == "unchanged"


def test_sentios_own_older_dashboard_is_updated_with_a_diff() -> None:
    old = {**BOARD, "title": "Old fleet"}
    step = plan_dashboard(BOARD, Live(old, "sentio:" + digest(old)), force=False)
    assert step.verb == "update"
    assert '-  "title": "Old fleet"' in step.diff() and '+  "title": "Fleet"' in step.diff()


def test_a_dashboard_someone_changed_in_grafana_is_a_conflict_unless_forced() -> None:
    edited = Live({**BOARD, "title": "Mine now"}, "moved a panel")
    assert plan_dashboard(BOARD, edited, force=False).verb == "conflict"
    assert plan_dashboard(BOARD, edited, force=True).verb == "update"


def test_datasources_are_compared_on_what_sentio_sets() -> None:
    assert plan_datasource(SOURCE, None).verb == "create"
    same = Live({**SOURCE, "id": 3, "readOnly": False, "basicAuth": False})
    assert plan_datasource(SOURCE, same).verb == "unchanged"
    moved = Live({**SOURCE, "url": "http://elsewhere:8428"})
    assert plan_datasource(SOURCE, moved).verb == "update"


class FakeGrafana:
    """Stands in for grafana_api.Grafana: records every change, fails on the named one."""

    where = "fake"

    def __init__(self, fail_on: str | None = None) -> None:
        self.fail_on = fail_on
        self.changes: list[str] = []

    def _do(self, what: str) -> Callable[[], None]:
        if what == self.fail_on:
            raise GrafanaError(f"fake: {what} refused")
        self.changes.append(what)
        return lambda: self.changes.append(f"undo {what}")

    def folder(self, uid: str, title: str) -> Callable[[], None] | None:
        return self._do(f"folder {uid}")

    def put_datasource(self, step: Step) -> Callable[[], None]:
        return self._do(f"datasource {step.uid}")

    def put_dashboard(self, step: Step, folder_uid: str) -> Callable[[], None]:
        return self._do(f"dashboard {step.uid}")


PLAN = Plan(
    [
        Step("datasource", "sentio-vm", "create", SOURCE),
        Step("dashboard", "a", "create", {"uid": "a"}),
        Step("dashboard", "b", "unchanged", {"uid": "b"}),
        Step("dashboard", "c", "update", {"uid": "c"}),
    ]
)


def test_apply_changes_only_what_the_plan_changes() -> None:
    fake = FakeGrafana()
    done = grafana_api.apply(fake, SentioConfig(), PLAN, lambda _m: None)  # type: ignore[arg-type]
    assert [s.uid for s in done] == ["sentio-vm", "a", "c"]
    assert fake.changes == ["folder sentio", "datasource sentio-vm", "dashboard a", "dashboard c"]


def test_a_failure_half_way_undoes_what_was_done_newest_first() -> None:
    fake = FakeGrafana(fail_on="dashboard c")
    with pytest.raises(GrafanaError, match="dashboard c refused"):
        grafana_api.apply(fake, SentioConfig(), PLAN, lambda _m: None)  # type: ignore[arg-type]
    assert fake.changes == [
        "folder sentio", "datasource sentio-vm", "dashboard a",
        "undo dashboard a", "undo datasource sentio-vm", "undo folder sentio",
    ]  # fmt: skip


def test_a_conflict_changes_nothing_and_says_how_to_proceed() -> None:
    fake = FakeGrafana()
    conflicted = Plan([*PLAN.steps, Step("dashboard", "d", "conflict", {"uid": "d"})])
    with pytest.raises(GrafanaError, match=r"d were changed in Grafana.*--force"):
        grafana_api.apply(fake, SentioConfig(), conflicted, lambda _m: None)  # type: ignore[arg-type]
    assert fake.changes == []


class _Refuses(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"message": "invalid API key"}')

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def refusing_grafana() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Refuses)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _config(tmp_path: Path) -> GrafanaConfig:
    token = tmp_path / "token"
    token.write_text("glsa_not_a_real_token\n")
    return GrafanaConfig(token_file=token)


def test_a_rejected_token_is_a_clear_error(refusing_grafana: str, tmp_path: Path) -> None:
    grafana = _config(tmp_path)
    api = grafana_api.connect(grafana, refusing_grafana)
    with (
        grafana_api.Grafana(api, refusing_grafana) as g,
        pytest.raises(GrafanaError, match="the token was rejected") as info,
    ):
        grafana_api.make_plan(g, SentioConfig(), force=False)
    assert "glsa_not_a_real_token" not in str(info.value)


def test_an_unreachable_grafana_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    api = grafana_api.connect(_config(tmp_path), url)
    with grafana_api.Grafana(api, url) as g, pytest.raises(GrafanaError, match=rf"{url}: health"):
        grafana_api.make_plan(g, SentioConfig(), force=False)


def test_no_token_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRAFANA_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="set GRAFANA_TOKEN"):
        grafana_api.connect(GrafanaConfig(), "http://127.0.0.1:3000")


def test_files_mode_writes_grafanas_provisioning_layout(tmp_path: Path) -> None:
    written = grafana_api.write_files(SentioConfig(), tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"datasources/sentio.yaml", "dashboards/sentio.yaml",
            "dashboards/sentio/sentio-device.json"} <= names  # fmt: skip
