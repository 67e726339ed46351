from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sentio.connectors.mqtt import MqttConfig, MqttConnector, Subscription


def load_sample() -> dict[str, Any]:
    text = resources.files("sentio.connectors.mqtt").joinpath("sample.yaml").read_text()
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_sample_yaml_validates() -> None:
    config = MqttConfig.model_validate(load_sample())
    assert config.broker.port == 1883
    assert config.broker.clean_session is False
    assert config.broker.qos == 1
    assert [s.payload for s in config.subscriptions] == ["number", "json", "number"]
    assert [f.metric for f in config.subscriptions[1].fields] == [
        "active_power",
        "l1_voltage",
        "l2_voltage",
    ]
    connector = MqttConnector(config)
    assert connector.session.filters == ("plant/+/+/+", "meters/+/state", "weather/+/outdoor/#")
    assert MqttConnector.config_model is MqttConfig


def test_password_is_not_printed() -> None:
    data = load_sample()
    data["broker"]["password"] = "hunter2-secret"
    config = MqttConfig.model_validate(data)
    assert "hunter2-secret" not in repr(config)
    assert "hunter2-secret" not in str(config.model_dump())
    assert config.broker.password is not None
    assert config.broker.password.get_secret_value() == "hunter2-secret"


@pytest.mark.parametrize(
    "extra", [{"allow_insecure_credentials": True}, {"tls": {"ca_file": __file__}}]
)
def test_a_password_is_accepted_over_tls_or_when_allowed_in_clear(extra: dict[str, Any]) -> None:
    broker = {"host": "h", "username": "u", "password": "x", **extra}
    config = MqttConfig.model_validate(
        {"broker": broker, "subscriptions": [{"topic": "a/{device}/{metric}"}]}
    )
    assert config.broker.password is not None


def test_unknown_keys_are_rejected() -> None:
    data = load_sample()
    data["broker"]["colour"] = "red"
    with pytest.raises(ValidationError, match="colour"):
        MqttConfig.model_validate(data)


@pytest.mark.parametrize(
    ("broker", "reason"),
    [
        ({"password": "x"}, "password needs username"),
        ({"clean_session": False}, "needs a client_id"),
        ({"username": "u", "password": "x"}, "password without tls would cross the network"),
        ({"qos": 3}, "qos"),
        ({"tls": {"ca_file": "/nonexistent/ca.pem"}}, "ca_file"),
        ({"tls": {"key_file": __file__}}, "key_file needs cert_file"),
    ],
)
def test_bad_broker_settings_are_rejected(broker: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        MqttConfig.model_validate(
            {"broker": {"host": "h", **broker}, "subscriptions": [{"topic": "a/{device}/{metric}"}]}
        )


@pytest.mark.parametrize(
    ("subscription", "reason"),
    [
        ({"topic": "a/{device}"}, "needs the metric"),
        ({"topic": "a/{metric}"}, "give the device"),
        ({"topic": "a/{device}/{metric}", "device": "d"}, "give the device"),
        ({"topic": "a/{device}/{metric}", "metric": "m"}, "needs the metric"),
        ({"topic": "a/{device}", "payload": "json"}, "at least one entry in fields"),
        (
            {
                "topic": "a/{device}",
                "payload": "json",
                "unit": "W",
                "fields": [{"path": "x", "metric": "m"}],
            },
            "each entry in fields names its metric",
        ),
        (
            {"topic": "a/{device}", "payload": "json", "fields": [{"path": "a[", "metric": "m"}]},
            "malformed JSON path",
        ),
        (
            {
                "topic": "a/{device}",
                "payload": "json",
                "fields": [{"path": "x", "metric": "m"}, {"path": "y", "metric": "m"}],
            },
            "duplicate metrics in fields: m",
        ),
        (
            {"topic": "a/{device}", "metric": "m", "fields": [{"path": "x", "metric": "m"}]},
            "fields are for",
        ),
        ({"topic": "a/#/{device}", "metric": "m"}, "'#' must be"),
        ({"topic": "a/{device}", "metric": "m", "payload": "xml"}, "payload"),
    ],
)
def test_bad_subscriptions_are_rejected(subscription: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        Subscription.model_validate(subscription)
