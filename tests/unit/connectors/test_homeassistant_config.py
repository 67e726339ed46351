from __future__ import annotations

import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sentio.connectors.homeassistant import HomeAssistantConfig, HomeAssistantConnector
from typer.testing import CliRunner

from sentio.cli import app
from sentio.config import parse

BASE = {"url": "http://127.0.0.1:8123", "token": "t"}


def sample_text() -> str:
    return resources.files("sentio.connectors.homeassistant").joinpath("sample.yaml").read_text()


def load_sample() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(sample_text())
    return data


def config(**changes: Any) -> HomeAssistantConfig:
    return HomeAssistantConfig.model_validate({**BASE, **changes})


def test_sample_yaml_validates() -> None:
    config = HomeAssistantConfig.model_validate(load_sample())
    assert config.transport == "websocket"
    assert config.websocket_url == "ws://127.0.0.1:8123/api/websocket"
    assert config.include.domains == ["sensor", "binary_sensor", "climate", "light", "switch"]
    assert config.metrics == {"sensor.grid_import": "grid_import_power"}
    assert config.wanted("sensor.outdoor_temperature")
    assert config.wanted("input_number.setpoint")
    assert not config.wanted("sensor.door_linkquality")
    assert not config.wanted("automation.lights")
    connector = HomeAssistantConnector(config)
    assert connector.push is True
    assert connector.transport is None
    assert HomeAssistantConnector.config_model is HomeAssistantConfig


def test_sample_yaml_token_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HA_TOKEN", "from-the-environment")
    head = "connectors:\n  - name: ha\n    type: homeassistant\n    config:\n"
    settings = parse(head + textwrap.indent(sample_text(), " " * 6))
    ha = HomeAssistantConfig.model_validate(settings.connectors[0].config)
    assert ha.token.get_secret_value() == "from-the-environment"


def test_token_is_not_printed() -> None:
    settings = config(token="hunter2-secret")
    assert "hunter2-secret" not in repr(settings)
    assert "hunter2-secret" not in str(settings.model_dump())
    assert settings.token.get_secret_value() == "hunter2-secret"


@pytest.mark.parametrize(
    ("url", "ws", "label"),
    [
        ("http://ha.local:8123", "ws://ha.local:8123/api/websocket", "ha.local:8123"),
        ("https://ha.example.org/", "wss://ha.example.org/api/websocket", "ha.example.org:443"),
        ("http://10.0.0.2", "ws://10.0.0.2/api/websocket", "10.0.0.2:80"),
    ],
)
def test_urls(url: str, ws: str, label: str) -> None:
    settings = config(url=url, allow_insecure_credentials=True)
    assert settings.websocket_url == ws
    assert settings.label == label
    assert not settings.base_url.endswith("/")


@pytest.mark.parametrize("url", ["ws://ha:8123", "ha.local:8123", "http://ha:8123/api", ""])
def test_bad_url_is_rejected(url: str) -> None:
    with pytest.raises(ValidationError, match="url"):
        config(url=url)


def test_missing_token_is_rejected() -> None:
    with pytest.raises(ValidationError, match="token"):
        HomeAssistantConfig.model_validate({"url": "http://127.0.0.1:8123"})


def test_unknown_key_is_rejected() -> None:
    with pytest.raises(ValidationError, match="password"):
        config(password="x")


def test_empty_include_lets_everything_through() -> None:
    settings = config()
    assert settings.wanted("sensor.a")
    assert settings.wanted("light.kitchen")


def test_include_by_domain_and_glob() -> None:
    settings = config(include={"domains": ["sensor"], "entities": ["light.kitchen_*"]})
    assert settings.wanted("sensor.a")
    assert settings.wanted("light.kitchen_ceiling")
    assert not settings.wanted("light.hall")
    assert not settings.wanted("sensorx.a")


def test_exclude_wins_over_include() -> None:
    settings = config(
        include={"domains": ["sensor"]},
        exclude={"domains": ["binary_sensor"], "entities": ["sensor.*_rssi"]},
    )
    assert settings.wanted("sensor.plug_power")
    assert not settings.wanted("sensor.plug_rssi")
    assert not settings.wanted("binary_sensor.door")


def test_exclude_alone() -> None:
    settings = config(exclude={"entities": ["sensor.test_?"]})
    assert not settings.wanted("sensor.test_1")
    assert settings.wanted("sensor.test_10")


def test_glob_is_case_sensitive() -> None:
    settings = config(include={"entities": ["sensor.Kitchen*"]})
    assert not settings.wanted("sensor.kitchen_temperature")


@pytest.mark.parametrize("domain", ["sensor.x", "", "Sensor", "a b"])
def test_bad_domain_is_rejected(domain: str) -> None:
    with pytest.raises(ValidationError, match="domain"):
        config(include={"domains": [domain]})


@pytest.mark.parametrize(
    ("metrics", "match"),
    [
        ({"sensor": "x"}, "entity id"),
        ({"sensor.a": "1x"}, "metric name"),
        ({"sensor.a": "a b"}, "metric name"),
    ],
)
def test_bad_metric_overrides_are_rejected(metrics: dict[str, str], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        config(metrics=metrics)


def test_resend_s_points_to_the_collectors_heartbeat() -> None:
    with pytest.raises(ValidationError, match=r"report: \{heartbeat_s: \.\.\.\}"):
        config(resend_s=60)


@pytest.mark.parametrize(
    "url", ["http://ha.local:8123", "http://10.0.0.2", "http://[fe80::1]:8123"]
)
def test_a_token_over_plain_http_to_another_host_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="allow_insecure_credentials: true") as caught:
        config(url=url)
    assert "https://" in str(caught.value) and url in str(caught.value)
    assert config(url=url, allow_insecure_credentials=True).url == url


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8123", "http://127.0.2.3", "http://localhost:8123", "http://[::1]:8123",
     "https://ha.example.org", "https://10.0.0.2:8123"],
)  # fmt: skip
def test_https_or_this_machine_needs_no_flag(url: str) -> None:
    assert config(url=url).url == url


def test_the_refusal_names_the_connector_entry_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "sentio.yaml"
    path.write_text(
        "connectors:\n  - name: plant-ha\n    type: homeassistant\n    config:\n"
        "      url: http://ha.plant.example:8123\n      token: hunter2-secret\n"
    )
    result = CliRunner().invoke(app, ["run", "-c", str(path), "--duration", "1"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith("error: connectors[0].config (plant-ha): the token would cross"), line
    assert "use an https:// url, or set allow_insecure_credentials: true" in line
    assert "hunter2-secret" not in result.output and "Traceback" not in result.output
