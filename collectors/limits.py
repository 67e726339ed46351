"""Caps on the devices and metric names one connector entry may create; refusals are counted.

Names that come from what a source publishes (an MQTT topic template's ``{device}`` and
``{metric}``) are not bounded by the config, so a flood of new topics would grow every
per-device structure (health, heartbeat, attribute caches, encoder buffers, ``device.up``
series) without end. Past ``max_devices`` a new device, and past ``max_metrics_per_device``
a new metric of a device, is refused: its readings are dropped and counted, and the name is
logged once as a WARN. The refused names themselves are remembered in a bounded set, so a
name forgotten from it is counted and logged again when it comes back.
"""

from __future__ import annotations

import logging
import time

from sentio.connectors.contract import Metrics

DEFAULT_MAX_DEVICES = 1000
DEFAULT_MAX_METRICS = 500
REFUSED_REMEMBERED = 10_000
WARN_BURST = 100  # WARNs per entry and window; the rest are summed up in one line
WARN_WINDOW_S = 60.0
NAME_CHARS = 80  # a topic can be 64 KiB long: names are cut short in log lines
log = logging.getLogger("sentio.collector")


def _short(name: str) -> str:
    return repr(name if len(name) <= NAME_CHARS else name[:NAME_CHARS] + "...")


class NameLimits:
    """The devices and metric names an entry tracks, and what it refused past its caps."""

    def __init__(self, entry: str, max_devices: int | None, max_metrics: int | None) -> None:
        self.entry = entry
        self.max_devices = max_devices
        self.max_metrics = max_metrics
        self.active = max_devices is not None or max_metrics is not None
        self.metrics: dict[str, set[str]] = {}
        self.refused = 0  # names refused (each once while the bounded set remembers it)
        self.dropped = 0  # readings dropped because their device or metric was refused
        self._refused: dict[tuple[str, str], None] = {}
        self._checked: dict[str, Metrics] = {}  # a batch layout whose metrics are all tracked
        self._window = 0.0
        self._warned = 0
        self._unwarned = 0

    def device(self, device: str) -> bool:
        """Return whether ``device`` is tracked, tracking a new one while under the cap."""
        if device in self.metrics:
            return True
        if self.max_devices is not None and len(self.metrics) >= self.max_devices:
            self._refuse(device, None)
            return False
        self.metrics[device] = set()
        return True

    def reading(self, device: str, metric: str) -> bool:
        """Return whether a reading may be kept; count it as dropped if not."""
        if not self.device(device):
            self.dropped += 1
            return False
        names = self.metrics[device]
        if metric in names:
            return True
        if self.max_metrics is not None and len(names) >= self.max_metrics:
            self._refuse(device, metric)
            self.dropped += 1
            return False
        names.add(metric)
        return True

    def batch(self, device: str, metrics: Metrics) -> bool:
        """Return whether every metric of a batch is tracked (tracking new ones under the cap).

        False means some are refused: keep the batch's readings one by one through ``reading``.
        """
        if self._checked.get(device) is metrics:
            return True
        if not self.device(device):
            return False
        names = self.metrics[device]
        new = {name for name, _unit in metrics if name not in names}
        if self.max_metrics is not None and len(names) + len(new) > self.max_metrics:
            return False
        names |= new
        self._checked[device] = metrics
        return True

    def forget(self, device: str) -> None:
        """Stop tracking a device that no longer exists, freeing its place."""
        self.metrics.pop(device, None)
        self._checked.pop(device, None)

    @property
    def tracked_metrics(self) -> int:
        """Return how many (device, metric) names are tracked."""
        return sum(len(names) for names in self.metrics.values())

    def _refuse(self, device: str, metric: str | None) -> None:
        key = (device, "" if metric is None else metric)
        if key in self._refused:
            return
        self._refused[key] = None
        if len(self._refused) > REFUSED_REMEMBERED:
            del self._refused[next(iter(self._refused))]
        self.refused += 1
        now = time.monotonic()
        if now - self._window >= WARN_WINDOW_S:
            if self._unwarned:
                log.warning(
                    "%s: %d more names refused past the caps, not logged one by one",
                    self.entry, self._unwarned, extra={"instance": self.entry},
                )  # fmt: skip
            self._window, self._warned, self._unwarned = now, 0, 0
        if self._warned >= WARN_BURST:
            self._unwarned += 1
            return
        self._warned += 1
        if metric is None:
            what = f"device {_short(device)}: the entry has max_devices {self.max_devices}"
        else:
            what = (
                f"metric {_short(metric)} of device {_short(device)}: the device has "
                f"max_metrics_per_device {self.max_metrics}"
            )
        log.warning(
            "%s: refused new %s; its readings are dropped and counted",
            self.entry, what, extra={"instance": self.entry},
        )  # fmt: skip
