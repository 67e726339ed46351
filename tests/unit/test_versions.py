from __future__ import annotations

import re
from pathlib import Path

import pytest

from sentio.errors import StackError
from sentio.stack.backends import backends
from sentio.stack.versions import load_versions, parse_versions

REPO = Path(__file__).resolve().parents[2]


def test_parse_skips_comments_and_reports_bad_lines() -> None:
    assert parse_versions('# c\n\nA=1\nB = "two"\n') == {"A": "1", "B": "two"}
    with pytest.raises(StackError, match=r"v.env:2: expected KEY=value"):
        parse_versions("A=1\nnonsense\n", "v.env")


def test_every_backend_is_pinned_in_the_versions_file() -> None:
    versions = load_versions()
    for backend in backends(versions).values():
        assert backend.program.version in versions.values()


def test_docker_compose_reads_the_same_versions() -> None:
    compose = (REPO / "docker-compose.yml").read_text()
    used = set(re.findall(r"\$\{([A-Z_]+)", compose))
    pinned = set(load_versions())
    assert {"VICTORIAMETRICS_VERSION", "LOKI_VERSION"} <= used
    assert used - {"SENTIO_GRAFANA_ADMIN_PASSWORD"} <= pinned
    assert (REPO / ".env").resolve() == (REPO / "versions.env").resolve()
