"""Faults that can be injected into any simulated device, and how they change its values."""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass

KINDS = (
    "wear[:rate_per_h], drift:metric:rate_per_h, stuck:metric, "
    "spike:metric:magnitude[:probability], dead"
)


@dataclass(frozen=True, slots=True)
class BearingWear:
    """Wear of a bearing or drive: the device's wear-sensitive values rise with time."""

    rate_per_h: float = 1.0


@dataclass(frozen=True, slots=True)
class Drift:
    """A sensor drifting away from the true value at ``rate_per_h`` units per hour."""

    metric: str
    rate_per_h: float


@dataclass(frozen=True, slots=True)
class Stuck:
    """A sensor stuck at the value it had when the fault was injected."""

    metric: str


@dataclass(frozen=True, slots=True)
class Spike:
    """Spikes of ``magnitude`` added to a sensor on each step with ``probability``."""

    metric: str
    magnitude: float
    probability: float = 1.0


@dataclass(frozen=True, slots=True)
class Dead:
    """A dead device: it stops answering (each protocol says so in its own way)."""


Fault = BearingWear | Drift | Stuck | Spike | Dead


@dataclass(frozen=True, slots=True)
class WearEffect:
    """How far one value moves with wear ``w`` (rate x hours): ``linear * w + quadratic * w**2``."""

    linear: float
    quadratic: float = 0.0


def parse_kind(spec: str) -> Fault:
    """Parse ``KIND[:ARGS]``, e.g. ``wear:2`` or ``spike:vibration:5``; raise ValueError if bad."""
    kind, *args = spec.split(":")
    try:
        if kind == "wear" and len(args) <= 1:
            return BearingWear(*(float(a) for a in args))
        if kind == "drift" and len(args) == 2:
            return Drift(args[0], float(args[1]))
        if kind == "stuck" and len(args) == 1:
            return Stuck(args[0])
        if kind == "spike" and len(args) in {2, 3}:
            return Spike(args[0], *(float(a) for a in args[1:]))
        if kind == "dead" and not args:
            return Dead()
    except ValueError:
        pass
    raise ValueError(f"unknown fault or arguments {spec!r} ({KINDS})")


@dataclass(frozen=True, slots=True)
class _Injected:
    fault: Fault
    since_s: float
    frozen: float


class FaultSet:
    """The faults injected into one device with ``metrics``, and when each was injected."""

    def __init__(self, metrics: Collection[str], *, wear: bool = True) -> None:
        self.metrics = tuple(metrics)
        self.wear = wear
        self._injected: list[_Injected] = []

    @property
    def active(self) -> tuple[Fault, ...]:
        """Return the injected faults, oldest first."""
        return tuple(i.fault for i in self._injected)

    @property
    def dead(self) -> bool:
        """Return whether a Dead fault is injected."""
        return any(isinstance(i.fault, Dead) for i in self._injected)

    def check(self, fault: Fault) -> None:
        """Raise ValueError if ``fault`` cannot apply to this device."""
        if isinstance(fault, BearingWear) and not self.wear:
            raise ValueError("this device has no moving parts to wear")
        metric = getattr(fault, "metric", None)
        if metric is not None and metric not in self.metrics:
            raise ValueError(f"no metric {metric!r}; one of {', '.join(self.metrics)}")

    def inject(self, fault: Fault, now_s: float, values: Mapping[str, float]) -> None:
        """Inject ``fault`` at ``now_s``; a Stuck fault freezes the metric's value in ``values``."""
        self.check(fault)
        frozen = values[fault.metric] if isinstance(fault, Stuck) else 0.0
        self._injected.append(_Injected(fault, now_s, frozen))

    def clear(self) -> None:
        """Remove every injected fault."""
        self._injected.clear()

    def apply(
        self,
        values: dict[str, float],
        now_s: float,
        rng: random.Random,
        wear: Mapping[str, WearEffect],
    ) -> dict[str, float]:
        """Change ``values`` in place as the faults would at ``now_s``, and return them."""
        for injected in self._injected:
            fault = injected.fault
            hours = (now_s - injected.since_s) / 3600.0
            if isinstance(fault, BearingWear):
                amount = fault.rate_per_h * hours
                for metric, effect in wear.items():
                    values[metric] += effect.linear * amount + effect.quadratic * amount * amount
            elif isinstance(fault, Drift):
                values[fault.metric] += fault.rate_per_h * hours
            elif isinstance(fault, Spike) and rng.random() < fault.probability:
                values[fault.metric] += fault.magnitude
        for injected in self._injected:
            if isinstance(injected.fault, Stuck):
                values[injected.fault.metric] = injected.frozen
        return values


class FaultyDevice:
    """What every simulated device shares: a clock, its current values and injected faults."""

    elapsed_s: float
    faults: FaultSet
    _values: dict[str, float]

    @property
    def dead(self) -> bool:
        """Return whether a Dead fault is injected."""
        return self.faults.dead

    def inject(self, fault: Fault) -> None:
        """Inject a fault; it takes effect from the next step (Dead at once)."""
        self.faults.inject(fault, self.elapsed_s, self._values)

    def clear_faults(self) -> None:
        """Remove every injected fault."""
        self.faults.clear()
