"""docker-compose.yml conforms to the Compose Specification, checked by its reference loader."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from sentio.deploy.tools import ensure_compose_spec

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def compose_spec() -> Path:
    """Return compose-go's validator at the pinned COMPOSE_GO_VERSION (built once, cached)."""
    return ensure_compose_spec(lambda _m: None)


def validate(binary: Path, path: Path) -> subprocess.CompletedProcess[str]:
    """Validate ``path`` against the spec's JSON schema, variables left as written."""
    return subprocess.run(
        [str(binary), "-no-interpolation", "-format", "json", str(path)],
        cwd=path.parent, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_the_compose_file_conforms_to_the_compose_spec(compose_spec: Path) -> None:
    proc = validate(compose_spec, REPO / "docker-compose.yml")
    assert proc.returncode == 0, proc.stderr
    model = json.loads(proc.stdout)
    assert model["name"] == "sentio"
    assert {"sentio-config", "sentio-demo", "alertmanager", "grafana"} <= set(model["services"])


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (("condition: service_started", "condition: service_up"), "condition value must be one of"),
        (("    hostname: sentio-demo", "    hostnme: sentio-demo"), "hostnme"),
    ],
)
def test_the_validator_rejects_what_compose_would(
    compose_spec: Path, tmp_path: Path, edit: tuple[str, str], complaint: str
) -> None:
    text = (REPO / "docker-compose.yml").read_text()
    assert edit[0] in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(edit[0], edit[1], 1))
    proc = validate(compose_spec, broken)
    assert proc.returncode != 0
    assert complaint in proc.stderr, proc.stderr
