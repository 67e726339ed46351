"""Configuration of the Zigbee2MQTT connector."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sentio.connectors.mqtt.config import BrokerConfig


class Zigbee2MqttConfig(BaseModel):
    """The Zigbee2MQTT connector's configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    broker: BrokerConfig
    base_topic: str = Field(default="zigbee2mqtt", min_length=1)
    include: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    units: dict[str, str] = Field(default_factory=dict)

    @field_validator("base_topic")
    @classmethod
    def _check_base_topic(cls, value: str) -> str:
        if any(c in value for c in "+#") or value.startswith("/") or value.endswith("/"):
            raise ValueError("base_topic must be a plain topic without wildcards or edge slashes")
        return value
