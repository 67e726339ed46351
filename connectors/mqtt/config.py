"""Configuration of the MQTT connectors: the broker connection and the generic subscriptions."""

from __future__ import annotations

from typing import Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    field_validator,
    model_validator,
)

from .paths import parse_path
from .topics import TopicTemplate


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsConfig(_Strict):
    """TLS towards the broker; every file is PEM and must exist when the config loads."""

    ca_file: FilePath | None = None
    cert_file: FilePath | None = None
    key_file: FilePath | None = None
    insecure: bool = False

    @model_validator(mode="after")
    def _check(self) -> TlsConfig:
        if self.key_file is not None and self.cert_file is None:
            raise ValueError("key_file needs cert_file")
        return self


class BrokerConfig(_Strict):
    """How to reach and stay connected to one MQTT broker."""

    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    client_id: str | None = Field(default=None, min_length=1, max_length=65535)
    username: str | None = None
    password: SecretStr | None = None
    keepalive_s: int = Field(default=60, ge=1, le=65535)
    clean_session: bool = True
    qos: Literal[0, 1, 2] = 0
    tls: TlsConfig | None = None
    timeout_s: float = Field(default=10.0, gt=0)
    max_queued_messages: int = Field(
        default=10_000,
        ge=1,
        description="Messages received and not yet decoded; past it new ones are dropped and "
        "counted (sentio.collector.connector.dropped), the connection kept.",
    )
    allow_insecure_credentials: bool = Field(
        default=False, description="Send a password without TLS (it crosses the network in clear)."
    )

    @model_validator(mode="after")
    def _check(self) -> BrokerConfig:
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        if not self.clean_session and self.client_id is None:
            raise ValueError("a persistent session (clean_session: false) needs a client_id")
        if self.password is not None and self.tls is None and not self.allow_insecure_credentials:
            raise ValueError(
                "a password without tls would cross the network in clear: configure tls, "
                "or set allow_insecure_credentials: true"
            )
        return self

    @property
    def label(self) -> str:
        """Return ``host:port``, which names the broker in events."""
        return f"{self.host}:{self.port}"


class JsonField(_Strict):
    """One number inside a JSON payload and the metric it becomes."""

    path: str
    metric: str = Field(min_length=1)
    unit: str = Field(
        default="", description="UCUM unit; `{bool}`, `{state}`, `{part}`…; empty: a plain number."
    )

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        parse_path(value)
        return value


class Subscription(_Strict):
    """One topic template and how its payloads become readings."""

    topic: str
    device: str | None = Field(default=None, min_length=1)
    metric: str | None = Field(default=None, min_length=1)
    payload: Literal["number", "json"] = "number"
    unit: str | None = Field(default=None, min_length=1)
    fields: list[JsonField] = Field(default_factory=list)

    @field_validator("topic")
    @classmethod
    def _check_topic(cls, value: str) -> str:
        TopicTemplate.parse(value)
        return value

    @model_validator(mode="after")
    def _check(self) -> Subscription:
        names = TopicTemplate.parse(self.topic).names
        if ("device" in names) == (self.device is not None):
            raise ValueError("give the device either as {device} in topic or as device, not both")
        if self.payload == "number":
            if ("metric" in names) == (self.metric is not None):
                raise ValueError(
                    "a number payload needs the metric either as {metric} in topic or as metric"
                )
            if self.fields:
                raise ValueError("fields are for payload json")
        else:
            if not self.fields:
                raise ValueError("payload json needs at least one entry in fields")
            if "metric" in names or self.metric is not None or self.unit is not None:
                raise ValueError(
                    "with payload json, each entry in fields names its metric and unit"
                )
            metrics = [f.metric for f in self.fields]
            duplicates = sorted({m for m in metrics if metrics.count(m) > 1})
            if duplicates:
                raise ValueError(f"duplicate metrics in fields: {', '.join(duplicates)}")
        return self


class MqttConfig(_Strict):
    """The generic MQTT connector's configuration."""

    broker: BrokerConfig
    subscriptions: list[Subscription] = Field(min_length=1)
