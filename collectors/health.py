"""Device health: up or down and the last good poll, each change logged once."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sentio.redact import redact

device_log = logging.getLogger("sentio.collector.devices")


@dataclass
class DeviceHealth:
    """What the collector knows about one device's state."""

    up: bool = False
    last_success: float = 0.0
    failures: int = 0  # failed polls in a row


def set_state(
    devices: dict[str, DeviceHealth], instance: str, device: str, ok: bool, reason: str = ""
) -> None:
    """Record a poll's outcome for ``device``; log when it goes down or recovers."""
    health = devices.get(device)
    if health is None:
        health = devices[device] = DeviceHealth(up=ok)
        if not ok:
            _log_down(instance, device, reason)
    elif ok != health.up:
        if ok:
            device_log.info(
                "device %s recovered", device, extra={"instance": instance, "device": device}
            )
        else:
            _log_down(instance, device, reason)
    health.up = ok
    if ok:
        health.last_success = time.time()
        health.failures = 0
    else:
        health.failures += 1


def _log_down(instance: str, device: str, reason: str) -> None:
    attrs = {"instance": instance, "device": device}
    device_log.error("device %s is down: %s", device, redact(reason), extra=attrs)
