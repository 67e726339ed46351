"""What vmalert makes of a score series: the alert episodes a rule with ``for:`` would fire.

The rule is ``max_over_time(score[hold]) > 1`` held for ``for`` (plain ``score > 1`` when
``hold`` is 0), evaluated every ``interval``; between samples an instant query sees the latest
sample, as VictoriaMetrics' lookback does. An evaluation where the condition is false ends the
pending wait or resolves the alert, as in vmalert.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.floating[Any]]
GO_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def go_seconds(text: str) -> float:
    """Return the seconds of a Go duration such as ``2m`` or ``1h30m``."""
    parts = re.findall(r"([0-9]+)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{text!r} is not a Go duration (e.g. 90s, 2m, 1h30m)")
    return sum(int(n) * GO_UNITS[u] for n, u in parts)


@dataclass(frozen=True)
class RuleTiming:
    """The timing of an alert rule and of the samples it reads, in seconds."""

    for_s: float
    interval_s: float = 15.0
    hold_s: float = 0.0


@dataclass(frozen=True)
class Firing:
    """One alert episode: when it fired and when it resolved (seconds from the first sample)."""

    fired_s: float
    resolved_s: float


def condition(times: FloatArray, above: npt.NDArray[np.bool_], evals: FloatArray, hold_s: float
              ) -> npt.NDArray[np.bool_]:  # fmt: skip
    """Return the rule's condition at each evaluation time."""
    latest = np.searchsorted(times, evals, side="right") - 1
    if hold_s <= 0:
        return np.where(latest >= 0, above[np.maximum(latest, 0)], False)
    # any sample above 1 in (t - hold, t]: count them with a running sum
    total = np.concatenate([[0], np.cumsum(above)])
    first = np.searchsorted(times, evals - hold_s, side="right")
    return np.asarray(total[latest + 1] - total[first] > 0)


def firings(times: FloatArray, score: FloatArray, rule: RuleTiming) -> list[Firing]:
    """Return the alert episodes the rule fires over samples ``score`` taken at ``times``."""
    if len(times) == 0:
        return []
    end = float(times[-1]) + rule.interval_s
    evals = np.arange(float(times[0]), end, rule.interval_s)
    true = condition(times, np.nan_to_num(score) > 1.0, evals, rule.hold_s)
    edges = np.diff(np.concatenate([[0], true.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    out = []
    for lo, hi in zip(starts.tolist(), stops.tolist(), strict=True):
        fired = evals[lo] + rule.interval_s * np.ceil(rule.for_s / rule.interval_s)
        resolved = evals[hi] if hi < len(evals) else end
        if fired <= evals[hi - 1]:
            out.append(Firing(float(fired), float(resolved)))
    return out
