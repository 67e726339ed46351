"""One running connector instance and what the runtime keeps for it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sentio.collectors.attributes import ATTRIBUTE_SETS_CACHED, AttributeCache
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
    readings: int = 0  # accepted, since the collector started
    labels: dict[str, str] = field(init=False)  # of the collector's own metrics (not mutated)
    _device_labels: dict[str, dict[str, str]] = field(init=False, default_factory=dict)

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
        self.labels = {"instance": cfg.name, "connector": cfg.type}

    def device_labels(self, device: str) -> dict[str, str]:
        """Return the labels of the collector's own metrics about one device (not to mutate)."""
        labels = self._device_labels.get(device)
        if labels is None:
            if len(self._device_labels) >= ATTRIBUTE_SETS_CACHED:
                self._device_labels.clear()
            labels = self._device_labels[device] = {**self.labels, "device": device}
        return labels
