"""One running connector instance and what the runtime keeps for it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sentio.collectors.attributes import AttributeCache
from sentio.collectors.health import DeviceHealth
from sentio.connectors.contract import Connector, Reading

from sentio.config import ConnectorInstanceConfig


@dataclass
class Instance:
    """One running connector and its devices' health."""

    config: ConnectorInstanceConfig
    connector: Connector[Any]
    connected: bool = False
    devices: dict[str, DeviceHealth] = field(default_factory=dict)
    last_sent: dict[tuple[str, str], tuple[float | bool | str, float]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    traceback_logged: bool = False
    latest: dict[tuple[str, str], tuple[Reading, float]] = field(default_factory=dict)
    resend: bool = False
    attributes: AttributeCache = field(init=False)
    # devices the connector said are unreachable (Event.available False): down until it says
    # they are back, whatever readings of them still arrive
    unavailable: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        on_change = self.config.report.mode == "on_change"
        self.resend = self.connector.changes_only or (self.connector.push and on_change)
        self.attributes = AttributeCache(self.config.type, self.config.name)

    @property
    def labels(self) -> dict[str, str]:
        """Return the labels of the collector's own metrics about this instance."""
        return {"instance": self.config.name, "connector": self.config.type}
