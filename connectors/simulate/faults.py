"""The simulated pumps' metrics and the faults that can be injected into them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Metric = Literal["vibration", "bearing_temperature", "motor_current", "pressure", "flow"]


@dataclass(frozen=True, slots=True)
class BearingWear:
    """Bearing wear: vibration and bearing temperature rise with time since injection."""

    rate_per_h: float = 1.0


@dataclass(frozen=True, slots=True)
class Drift:
    """A sensor drifting away from the true value at ``rate_per_h`` units per hour."""

    metric: Metric
    rate_per_h: float


@dataclass(frozen=True, slots=True)
class Stuck:
    """A sensor stuck at the value it had when the fault was injected."""

    metric: Metric


@dataclass(frozen=True, slots=True)
class Spike:
    """Spikes of ``magnitude`` added to a sensor on each step with ``probability``."""

    metric: Metric
    magnitude: float
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class Dead:
    """A dead device: every request gets the exception response "gateway target no response"."""


Fault = BearingWear | Drift | Stuck | Spike | Dead
