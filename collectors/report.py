"""The report strategy: every poll, or on change with a heartbeat that resends the last value."""

from __future__ import annotations

import time

from sentio.collectors.instance import Instance
from sentio.connectors.contract import Reading


def accept(inst: Instance, reading: Reading) -> bool:
    """Apply the report strategy: every poll, or on change with a heartbeat."""
    report = inst.config.report
    if report.mode == "every_poll":
        return True
    key = (reading.device, reading.metric)
    now = reading.timestamp_ns / 1e9
    previous = inst.last_sent.get(key)
    if previous and previous[0] == reading.value and now - previous[1] < report.heartbeat_s:
        return False
    inst.last_sent[key] = (reading.value, now)
    return True


def remember(inst: Instance, reading: Reading) -> None:
    """Keep a changes-only connector's last reading of a metric for the heartbeat."""
    if inst.resend:
        inst.latest[reading.device, reading.metric] = (reading, time.monotonic())


def stale(inst: Instance) -> list[Reading]:
    """Return the last readings unchanged for ``heartbeat_s``, due to be sent again.

    A device that is down has none: its last values are not kept alive.
    """
    every = inst.config.report.heartbeat_s
    now = time.monotonic()
    down = {d for d, h in inst.devices.items() if not h.up}
    return [r for r, sent in inst.latest.values() if now - sent >= every and r.device not in down]


def forget(inst: Instance, device: str) -> None:
    """Drop a device that no longer exists: its heartbeat and its health."""
    inst.devices.pop(device, None)
    inst.unavailable.discard(device)
    for key in [k for k in inst.latest if k[0] == device]:
        del inst.latest[key]
