"""Configuration of the Home Assistant connector: the server, the token and what to read."""

from __future__ import annotations

import fnmatch
import ipaddress
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

_DOMAIN = re.compile(r"[a-z0-9_]+")
_METRIC = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*")


def _loopback(host: str) -> bool:
    """Return whether ``host`` names this machine (localhost, 127.0.0.0/8, ::1)."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EntityFilter(_Strict):
    """Entities named by domain (``sensor``) or by entity-id glob (``sensor.*_temperature``)."""

    domains: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)

    @field_validator("domains")
    @classmethod
    def _check_domains(cls, value: list[str]) -> list[str]:
        bad = [d for d in value if not _DOMAIN.fullmatch(d)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a domain such as sensor or binary_sensor")
        return value

    @property
    def empty(self) -> bool:
        """Return whether the filter names nothing."""
        return not self.domains and not self.entities

    def matches(self, entity_id: str) -> bool:
        """Return whether ``entity_id`` is in one of the domains or matches one of the globs."""
        domain = entity_id.partition(".")[0]
        return domain in self.domains or any(
            fnmatch.fnmatchcase(entity_id, pattern) for pattern in self.entities
        )


class HomeAssistantConfig(_Strict):
    """The Home Assistant connector's configuration."""

    url: str = Field(pattern=r"^https?://[^/\s]+/?$")
    token: SecretStr
    transport: Literal["websocket", "rest"] = "websocket"
    poll_interval_s: float = Field(default=30.0, gt=0)
    websocket_retry_s: float = Field(default=300.0, gt=0)
    timeout_s: float = Field(default=10.0, gt=0)
    heartbeat_s: float = Field(default=30.0, gt=0)
    verify_tls: bool = True
    allow_insecure_credentials: bool = Field(
        default=False,
        description="Send the token over plain http:// to a host other than this one (in clear).",
    )
    include: EntityFilter = EntityFilter()
    exclude: EntityFilter = EntityFilter()
    metric: Literal["device_class", "object_id"] = "device_class"
    metrics: dict[str, str] = Field(default_factory=dict)
    units: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "resend_s" in data:
            raise ValueError(
                "resend_s is now the collector's heartbeat, one for every connector: set "
                "`report: {heartbeat_s: ...}` on the connectors entry instead"
            )
        return data

    @model_validator(mode="after")
    def _check_transport(self) -> HomeAssistantConfig:
        host = urlsplit(self.url).hostname or ""
        plain = self.url.startswith("http://") and not _loopback(host)
        if plain and not self.allow_insecure_credentials:
            raise ValueError(
                f"the token would cross the network in clear over {self.url}: use an https:// "
                "url, or set allow_insecure_credentials: true"
            )
        return self

    @field_validator("metrics")
    @classmethod
    def _check_metrics(cls, value: dict[str, str]) -> dict[str, str]:
        for entity_id, metric in value.items():
            if "." not in entity_id:
                raise ValueError(f"{entity_id!r} is not an entity id such as sensor.outdoor")
            if not _METRIC.fullmatch(metric):
                raise ValueError(
                    f"metric name {metric!r} of {entity_id} must match {_METRIC.pattern}"
                )
        return value

    @property
    def base_url(self) -> str:
        """Return the URL without a trailing slash."""
        return self.url.rstrip("/")

    @property
    def websocket_url(self) -> str:
        """Return the URL of the WebSocket API."""
        return "ws" + self.base_url.removeprefix("http") + "/api/websocket"

    @property
    def label(self) -> str:
        """Return ``host:port``, which names the server in events."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    def wanted(self, entity_id: str) -> bool:
        """Return whether ``entity_id`` passes include (empty: all) and exclude (which wins)."""
        if self.exclude.matches(entity_id):
            return False
        return self.include.empty or self.include.matches(entity_id)
