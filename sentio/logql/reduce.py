"""The values the Loki API computes from stats columns: Loki's quantile and rate_counter."""

from __future__ import annotations

import json
import math
from typing import Any

from sentio.logql.translate import QUANTILE_VALUES, RATE_COUNTER_COLUMNS, VALUE, StatsPlan
from sentio.logql.victorialogs import parse_rfc3339_ns

NS = 1_000_000_000


def number(text: str) -> float | None:
    """Return a stats value as a float, or None for text and NaN."""
    try:
        v = float(text)
    except ValueError:
        return None
    return None if math.isnan(v) else v


def quantile(q: float, text: str) -> float | None:
    """Return Loki's quantile (linear between the two nearest ranks) of a JSON list of values."""
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    values = sorted(v for x in raw if (v := number(str(x))) is not None)
    if not values:
        return None
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    rank = q * (len(values) - 1)
    lower = max(0, math.floor(rank))
    upper = min(len(values) - 1, lower + 1)
    weight = rank - math.floor(rank)
    return values[lower] * (1 - weight) + values[upper] * weight


def rate_counter(cols: dict[str, str], range_ns: int) -> float | None:
    """Return Loki's rate_counter from the stats of one window (Loki's extrapolation, as is)."""
    n_col, v0_col, v1_col, t0_col, t1_col, resets_col, reset0_col = RATE_COUNTER_COLUMNS
    n = number(cols.get(n_col, ""))
    if n is None or n < 1:
        return None
    if n < 2:
        return 0.0
    nums = [number(cols.get(c, "")) for c in (v0_col, v1_col, resets_col, reset0_col)]
    if any(x is None for x in nums):
        return None
    v0, v1, resets, reset0 = (float(x or 0.0) for x in nums)
    t0 = parse_rfc3339_ns(cols.get(t0_col, ""))
    t1 = parse_rfc3339_ns(cols.get(t1_col, ""))
    result = v1 - v0 + (resets - reset0)
    # Loki takes sample times in ns and divides by 1000 as if they were ms: kept, to match it
    to_start = float(range_ns // 1_000_000) / 1000
    to_end = 0.0
    sampled = float(t1 - t0) / 1000
    average = sampled / (n - 1)
    if result > 0 and v0 >= 0:
        to_zero = sampled * (v0 / result)
        to_start = min(to_start, to_zero)
    threshold = average * 1.1
    extrapolate = sampled
    extrapolate += to_start if to_start < threshold else average / 2
    extrapolate += to_end if to_end < threshold else average / 2
    return result * _div(extrapolate, sampled) / (range_ns / NS)


def _div(a: float, b: float) -> float:
    """Return a / b as Go's floats divide (b == 0 gives an infinity or NaN)."""
    if b:
        return a / b
    return math.nan if a == 0 else math.copysign(math.inf, a)


def reduce(plan: StatsPlan, cols: dict[str, str]) -> float | None:
    """Return the value of one window from its stats columns (None: no sample)."""
    if plan.reduce == "quantile":
        return quantile(plan.param, cols.get(QUANTILE_VALUES, "[]"))
    if plan.reduce == "rate_counter":
        return rate_counter(cols, plan.range_ns)
    return number(cols.get(VALUE, ""))


def merge(plan: StatsPlan, parts: list[dict[str, str]]) -> dict[str, str]:
    """Return the stats columns of consecutive buckets (in time order) as one window's."""
    if len(parts) == 1:
        return parts[0]
    if plan.reduce == "quantile":
        values: list[Any] = []
        for p in parts:
            try:
                values.extend(json.loads(p.get(QUANTILE_VALUES, "[]")))
            except ValueError:
                continue
        return {QUANTILE_VALUES: json.dumps(values)}
    n, v0, v1, t0, t1, resets, reset0 = RATE_COUNTER_COLUMNS

    def total(column: str) -> str:
        return repr(math.fsum(number(p.get(column, "")) or 0.0 for p in parts))

    first, last = parts[0], parts[-1]
    # the resets of every bucket, less the first sample's of the window (its previous sample
    # lies before it); a later bucket's first sample follows a sample within the window
    return {
        n: total(n),
        v0: first.get(v0, ""),
        t0: first.get(t0, ""),
        reset0: first.get(reset0, ""),
        v1: last.get(v1, ""),
        t1: last.get(t1, ""),
        resets: total(resets),
    }
