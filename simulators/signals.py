"""Building blocks of plausible signals: noise, first-order lags, daily cycles, bounds."""

from __future__ import annotations

import math
import random

DAY_S = 86400.0


def noisy(rng: random.Random | None, value: float, sigma: float) -> float:
    """Return ``value`` plus Gaussian noise of ``sigma`` (none without a generator)."""
    return value + rng.gauss(0.0, sigma) if rng is not None and sigma > 0 else value


def lag(current: float, target: float, dt_s: float, tau_s: float) -> float:
    """Move ``current`` toward ``target`` as a first-order system with time constant ``tau_s``."""
    if tau_s <= 0:
        return target
    return target + (current - target) * math.exp(-dt_s / tau_s)


def daily(t_s: float, mean: float, amplitude: float, peak_hour: float = 15.0) -> float:
    """Return a daily cosine cycle around ``mean`` peaking at ``peak_hour`` (t 0 is midnight)."""
    phase = 2 * math.pi * (t_s - peak_hour * 3600.0) / DAY_S
    return mean + amplitude * math.cos(phase)


def clamp(value: float, low: float, high: float) -> float:
    """Return ``value`` limited to ``[low, high]``."""
    return max(low, min(high, value))


def walk(rng: random.Random | None, value: float, step: float, low: float, high: float) -> float:
    """Take one bounded random-walk step of standard deviation ``step``."""
    return clamp(noisy(rng, value, step), low, high)
