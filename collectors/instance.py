"""One running connector instance and what the runtime keeps for it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sentio.collectors.attributes import AttributeCache
from sentio.collectors.health import DeviceHealth
from sentio.collectors.limits import DEFAULT_MAX_DEVICES, DEFAULT_MAX_METRICS, NameLimits
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
    limits: NameLimits = field(init=False)
    dropped_warned: int = 0  # the connector's dropped messages when last logged
    dropped_logged_at: float = 0.0

    def __post_init__(self) -> None:
        on_change = self.config.report.mode == "on_change"
        self.resend = self.connector.changes_only or (self.connector.push and on_change)
        self.attributes = AttributeCache(self.config.type, self.config.name)
        cfg, open_names = self.config, self.connector.open_names
        max_devices, max_metrics = cfg.max_devices, cfg.max_metrics_per_device
        if max_devices is None and open_names:
            max_devices = DEFAULT_MAX_DEVICES
        if max_metrics is None and open_names:
            max_metrics = DEFAULT_MAX_METRICS
        self.limits = NameLimits(cfg.name, max_devices, max_metrics)

    @property
    def labels(self) -> dict[str, str]:
        """Return the labels of the collector's own metrics about this instance."""
        return {"instance": self.config.name, "connector": self.config.type}
