"""Run translated metric plans on VictoriaLogs and shape the answers as Loki's matrix or vector.

VictoriaLogs computes every aggregate; what is done here is only what joins the answers of
two stats queries (binary operators between metric queries), fills ``absent_over_time`` and
renames labels to Loki's names.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from sentio.errors import LogQLTranslationError
from sentio.logql.labels import LEVEL_LABELS, loki_name, normalize_level, parse_stream
from sentio.logql.translate import (
    AbsentPlan,
    BinaryPlan,
    MetricPlan,
    ScalarPlan,
    StatsPlan,
)
from sentio.logql.victorialogs import JSON, VictoriaLogs

NS = 1_000_000_000
Labels = tuple[tuple[str, str], ...]
# labels -> {timestamp ns -> value}
Series = dict[Labels, dict[int, float]]


@dataclass(frozen=True)
class Window:
    """The evaluation grid: instant when ``step_ns`` is 0 (then ``start == end``)."""

    start: int
    end: int
    step_ns: int

    @property
    def instant(self) -> bool:
        """Return whether this is an instant query."""
        return self.step_ns == 0

    def times(self) -> list[int]:
        """Return every evaluation timestamp."""
        if self.instant:
            return [self.end]
        return list(range(self.start, self.end + 1, self.step_ns))


def _labels(metric: dict[str, str], names: dict[str, str]) -> Labels:
    out: dict[str, str] = {}
    for key, value in metric.items():
        if key == "__name__":
            continue
        if key == "_stream":
            for f, v in parse_stream(value).items():
                out[loki_name(f)] = v
            continue
        if value == "":
            continue  # an empty label is an absent one, as in Prometheus and Loki
        label = names.get(key, loki_name(key))
        out[label] = normalize_level(value) if label in LEVEL_LABELS else value
    return tuple(sorted(out.items()))


def _value(text: str) -> float | None:
    try:
        v = float(text)
    except ValueError:
        return None
    return None if math.isnan(v) else v


async def _stats(vl: VictoriaLogs, plan: StatsPlan, w: Window) -> Series:
    out: Series = {}
    if w.instant:
        end = w.end - plan.offset_ns
        rows = await vl.stats_instant(plan.query, end - plan.range_ns + 1, end)
        for row in rows:
            v = _value(str(row["value"][1]))
            if v is not None:
                out.setdefault(_labels(row["metric"], plan.labels), {})[w.end] = v
        return out
    step = w.step_ns
    k, rest = divmod(plan.range_ns, step)
    if plan.range_ns != step and not (plan.combine and k >= 1 and rest == 0):
        raise LogQLTranslationError(
            f"range [{plan.range_ns / NS:g}s] with step {step / NS:g}s",
            "VictoriaLogs buckets by step: make the range equal the step (Grafana: $__auto), "
            "or a multiple of it for count/rate/bytes/sum/max/min over time summed (or "
            "maxed, mined) as they are",
        )
    # bucket [t - step, t) of VictoriaLogs is Loki's window (t - step, t] at point t; a range
    # of k steps is the k buckets before t, combined
    start = w.start - plan.range_ns - plan.offset_ns
    end = w.end - plan.offset_ns
    offset = (-start) % step  # VictoriaLogs starts buckets at multiples of step minus offset
    rows = await vl.stats_range(plan.query, start, end - 1, step, offset)
    combine: Callable[[list[float]], float] = {"max": max, "min": min}.get(plan.combine, math.fsum)
    for row in rows:
        labels = _labels(row["metric"], plan.labels)
        buckets: dict[int, float] = {}
        for ts, text in row["values"]:
            v = _value(str(text))
            if v is not None:
                buckets[round(float(ts) * NS) + step + plan.offset_ns] = v  # the bucket's end
        for t in w.times():
            got = [buckets[e] for e in range(t - (k - 1) * step, t + 1, step) if e in buckets]
            if got:
                out.setdefault(labels, {})[t] = got[0] if k == 1 else combine(got)
    return out


_ARITH: dict[str, Callable[[float, float], float]] = {
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b if b else (math.nan if a == 0 else math.copysign(math.inf, a)),
    "%": lambda a, b: math.fmod(a, b) if b else math.nan,
    "^": lambda a, b: float(a**b),
}
_CMP: dict[str, Callable[[float, float], bool]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _key(labels: Labels, on: tuple[str, ...] | None) -> Labels:
    if on is None:
        return labels
    names = {loki_name(n) for n in on}
    return tuple((k, v) for k, v in labels if k in names)


def _join(op: str, left: Series, right: Series, on: tuple[str, ...] | None) -> Series:
    by_key: dict[Labels, dict[int, float]] = {}
    for labels, points in right.items():
        by_key.setdefault(_key(labels, on), {}).update(points)
    out: Series = {}
    if op in ("and", "unless"):
        for labels, points in left.items():
            other = by_key.get(_key(labels, on), {})
            kept = {t: v for t, v in points.items() if (t in other) == (op == "and")}
            if kept:
                out[labels] = kept
        return out
    if op == "or":
        out = {k: dict(v) for k, v in left.items()}
        left_keys: dict[Labels, set[int]] = {}
        for labels, points in left.items():
            left_keys.setdefault(_key(labels, on), set()).update(points)
        for labels, points in right.items():
            taken = left_keys.get(_key(labels, on), set())
            extra = {t: v for t, v in points.items() if t not in taken}
            if extra:
                out.setdefault(labels, {}).update(extra)
        return out
    for labels, points in left.items():
        key = _key(labels, on)
        if key not in by_key:
            continue
        other = by_key[key]
        result_labels = key if on is not None else labels
        values: dict[int, float] = {}
        for t, a in points.items():
            if t not in other:
                continue
            b = other[t]
            if op in _ARITH:
                values[t] = _ARITH[op](a, b)
            elif _CMP[op](a, b):
                values[t] = a
        if values:
            out.setdefault(result_labels, {}).update(values)
    return out


def _scalar_series(value: float, w: Window) -> Series:
    return {(): dict.fromkeys(w.times(), value)}


async def evaluate(vl: VictoriaLogs, plan: MetricPlan, w: Window) -> Series:
    """Return the series a metric plan yields over the window."""
    if isinstance(plan, ScalarPlan):
        return _scalar_series(plan.value, w)
    if isinstance(plan, StatsPlan):
        return await _stats(vl, plan, w)
    if isinstance(plan, AbsentPlan):
        found = await _stats(vl, plan.inner, w)
        seen = {t for points in found.values() for t in points}
        missing = {t: 1.0 for t in w.times() if t not in seen}
        labels = tuple(sorted((loki_name(k), v) for k, v in plan.labels.items()))
        return {labels: missing} if missing else {}
    assert isinstance(plan, BinaryPlan)
    left = await evaluate(vl, plan.left, w)
    right = await evaluate(vl, plan.right, w)
    if isinstance(plan.right, ScalarPlan) or isinstance(plan.left, ScalarPlan):
        scalar_left = isinstance(plan.left, ScalarPlan)
        vec, scalar = (right, plan.left) if scalar_left else (left, plan.right)
        assert isinstance(scalar, ScalarPlan)
        out: Series = {}
        for labels, points in vec.items():
            vals: dict[int, float] = {}
            for t, v in points.items():
                a, b = (scalar.value, v) if scalar_left else (v, scalar.value)
                if plan.op in _ARITH:
                    vals[t] = _ARITH[plan.op](a, b)
                elif _CMP[plan.op](a, b):
                    vals[t] = v
            if vals:
                out[labels] = vals
        return out
    return _join(plan.op, left, right, plan.on)


def fmt_value(v: float) -> str:
    """Return a sample value as Prometheus writes it."""
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    return repr(int(v)) if v == int(v) and abs(v) < 1e15 else repr(v)


def matrix(series: Series) -> list[JSON]:
    """Return series as Loki's matrix result."""
    return [
        {
            "metric": dict(labels),
            "values": [[t / NS, fmt_value(v)] for t, v in sorted(points.items())],
        }
        for labels, points in sorted(series.items())
        if points
    ]


def vector(series: Series, at: int) -> list[JSON]:
    """Return series as Loki's vector result at time ``at``."""
    out: list[JSON] = []
    for labels, points in series.items():
        if at in points:
            out.append({"metric": dict(labels), "value": [at / NS, fmt_value(points[at])]})
    return out
