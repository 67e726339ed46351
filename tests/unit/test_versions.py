from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from sentio.errors import StackError
from sentio.stack.backends import backends
from sentio.stack.versions import load_versions, parse_versions, versions_file

REPO = Path(__file__).resolve().parents[2]
# The official image of each native backend, and the pin its tag must come from.
IMAGES = {
    "victoriametrics": ("victoriametrics/victoria-metrics", "VICTORIAMETRICS_VERSION"),
    "vmalert": ("victoriametrics/vmalert", "VICTORIAMETRICS_VERSION"),
    "vmalert-logs": ("victoriametrics/vmalert", "VICTORIAMETRICS_VERSION"),
    "victorialogs": ("victoriametrics/victoria-logs", "VICTORIALOGS_VERSION"),
    "jaeger": ("jaegertracing/jaeger", "JAEGER_V2_VERSION"),
    "alertmanager": ("prom/alertmanager", "ALERTMANAGER_VERSION"),
}


def test_parse_skips_comments_and_reports_bad_lines() -> None:
    assert parse_versions('# c\n\nA=1\nB = "two"\n') == {"A": "1", "B": "two"}
    with pytest.raises(StackError, match=r"v.env:2: expected KEY=value"):
        parse_versions("A=1\nnonsense\n", "v.env")


def test_the_package_reads_the_one_versions_file() -> None:
    assert versions_file().resolve() == (REPO / "versions.env").resolve()
    assert (REPO / ".env").resolve() == (REPO / "versions.env").resolve()


def test_compose_runs_the_official_image_of_every_native_backend_at_its_pin() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    services = compose["services"]
    pinned = load_versions()
    native = set(backends(pinned))
    assert native <= set(services), f"compose lacks {native - set(services)}"
    for name, (image, key) in IMAGES.items():
        assert services[name]["image"] == f"{image}:${{{key}}}", name
        assert key in pinned
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", (REPO / "docker-compose.yml").read_text()))
    secrets = {"SENTIO_GRAFANA_ADMIN_PASSWORD", "SENTIO_SLACK_WEBHOOK_URL"}  # from the environment
    assert used - secrets <= set(pinned), f"compose reads unpinned {used - set(pinned)}"
    assert services["grafana"]["image"] == "grafana/grafana:${GRAFANA_VERSION}"
    assert "victoriametrics-logs-datasource" in services["grafana"]["environment"].values()
    assert not any("build" in services[name] for name in native), "backends are not built here"


def test_the_compose_grafana_provisioning_is_what_sentio_writes(tmp_path: Path) -> None:
    from sentio.dashboards.grafana_api import write_files

    from sentio.config import load

    committed = REPO / "config" / "grafana" / "provisioning"
    written = write_files(load(REPO / "config" / "sentio-compose.yaml"), tmp_path)
    assert written
    for path in written:
        twin = committed / path.relative_to(tmp_path)
        assert twin.read_text() == path.read_text(), (
            f"{twin} is stale: run `sentio provision grafana --files config/grafana/provisioning "
            "-c config/sentio-compose.yaml`"
        )
    assert {p.relative_to(committed) for p in committed.rglob("*") if p.is_file()} == {
        p.relative_to(tmp_path) for p in written
    }


def test_native_builds_use_the_same_pins_as_compose() -> None:
    pinned = load_versions()
    every = backends(pinned)
    assert every["victoriametrics"].program.version == pinned["VICTORIAMETRICS_VERSION"]
    assert every["vmalert"].program.version == pinned["VICTORIAMETRICS_VERSION"]
    assert every["victorialogs"].program.version == pinned["VICTORIALOGS_VERSION"]
    assert every["alertmanager"].program.version == pinned["ALERTMANAGER_VERSION"]
    jaeger = every["jaeger"].program
    assert jaeger.version == pinned["JAEGER_VERSION"]
    assert f"latestVersion=v{pinned['JAEGER_V2_VERSION']}" in jaeger.ldflags[0]


def test_the_readme_names_every_pinned_version() -> None:
    readme = (REPO / "README.md").read_text()
    table = {
        row[0]: row[1]
        for row in (
            [cell.strip(" `") for cell in line.strip("|").split("|")]
            for line in readme.splitlines()
            if line.startswith("| ") and "`" in line
        )
        if len(row) >= 2
    }
    pinned = load_versions()
    for engine, key in {
        "VictoriaMetrics": "VICTORIAMETRICS_VERSION",
        "vmalert": "VICTORIAMETRICS_VERSION",
        "VictoriaLogs": "VICTORIALOGS_VERSION",
        "Jaeger": "JAEGER_VERSION",
        "Alertmanager": "ALERTMANAGER_VERSION",
    }.items():
        assert table.get(engine, "").startswith(pinned[key]), (engine, table.get(engine))


def test_the_sentio_image_copies_every_package_folder() -> None:
    dockerfile = (REPO / "docker" / "sentio.Dockerfile").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    folders = set(re.findall(r'"sentio\.[a-z_]+" = "([a-z-]+)"', pyproject)) | {"sentio"}
    for folder in folders:
        assert f"COPY {folder} {folder}" in dockerfile, folder


def test_every_package_folder_is_in_the_distribution() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(project["packages"])
    for name, folder in project["package-dir"].items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder).parts
            assert ".".join((name, *relative)) in listed, f"{init.parent} is not packaged"
