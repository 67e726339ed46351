"""Run translated metric plans on VictoriaLogs and shape the answers as Loki's matrix or vector.

VictoriaLogs computes every aggregate over log records; what is done here works on its stats
answers only: joining two of them (binary operators), aggregating series that are no one stats
query's rows (``AggPlan``), ``label_replace``, ``absent_over_time`` and ``vector()``, Loki's
quantile and rate_counter from their stats columns (``sentio.logql.reduce``), and Loki's label
names.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentio.errors import LogQLTranslationError
from sentio.logql.labels import LEVEL_LABELS, loki_name, normalize_level, parse_stream
from sentio.logql.reduce import merge, number, reduce
from sentio.logql.translate import (
    TIME_BUCKET,
    VALUE,
    AbsentPlan,
    AggPlan,
    BinaryPlan,
    LabelReplacePlan,
    MetricPlan,
    ScalarPlan,
    StatsPlan,
    VectorPlan,
)
from sentio.logql.victorialogs import JSON, VictoriaLogs, parse_rfc3339_ns

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


def _columns(rows: list[JSON], names: dict[str, str], point: Callable[[JSON], list[Any]]) -> Any:
    """Return {labels: {ts text: {column: value}}} of stats rows, one column per ``__name__``."""
    out: dict[Labels, dict[str, dict[str, str]]] = {}
    for row in rows:
        metric = row["metric"]
        column = str(metric.get("__name__", VALUE))
        labels = _labels(metric, names)
        for ts, text in point(row):
            out.setdefault(labels, {}).setdefault(str(ts), {})[column] = str(text)
    return out


async def _bucketed(vl: VictoriaLogs, plan: StatsPlan, w: Window) -> Series:
    """Answer a plan that groups by time itself, with one ``stats_query`` over the window."""
    step = plan.range_ns if w.instant else w.step_ns
    k, rest = divmod(plan.range_ns, step)
    if k < 1 or rest:
        raise _range_error(plan, step)
    start = (w.end if w.instant else w.start) - plan.range_ns - plan.offset_ns + 1
    end = w.end - plan.offset_ns
    offset = (-start) % step
    query = plan.query.replace(TIME_BUCKET, f"_time:{step}ns offset {offset}ns")
    rows = await vl.stats_instant(query, start, end)
    buckets: dict[Labels, dict[int, dict[str, str]]] = {}
    for row in rows:
        metric = dict(row["metric"])
        bucket = parse_rfc3339_ns(str(metric.pop("_time", "")))
        column = str(metric.get("__name__", VALUE))
        # bucket [t - step + 1, t + 1) is Loki's window (t - step, t] at point t
        t = bucket + step + plan.offset_ns - 1
        by_time = buckets.setdefault(_labels(metric, plan.labels), {})
        by_time.setdefault(t, {})[column] = str(row["value"][1])
    return _reduced_series(plan, buckets, w.times(), step, k)


def _reduced_series(
    plan: StatsPlan,
    buckets: dict[Labels, dict[int, dict[str, str]]],
    times: list[int],
    step: int,
    k: int,
) -> Series:
    """Return each point's value reduced from the stats columns of its window's k buckets."""
    out: Series = {}
    for labels, by_end in buckets.items():
        for t in times:
            parts = [by_end[e] for e in range(t - (k - 1) * step, t + 1, step) if e in by_end]
            if not parts:
                continue
            v = reduce(plan, merge(plan, parts))
            if v is not None:
                out.setdefault(labels, {})[t] = v
    return out


def _range_error(plan: StatsPlan, step: int) -> LogQLTranslationError:
    return LogQLTranslationError(
        f"range [{plan.range_ns / NS:g}s] with step {step / NS:g}s",
        "VictoriaLogs buckets by step: make the range equal the step (Grafana: $__auto), "
        "or a multiple of it for count/rate/bytes/sum/max/min over time summed (or "
        "maxed, mined) as they are",
    )


async def _stats(vl: VictoriaLogs, plan: StatsPlan, w: Window) -> Series:
    if TIME_BUCKET in plan.query:
        return await _bucketed(vl, plan, w)
    out: Series = {}
    if w.instant:
        end = w.end - plan.offset_ns
        rows = await vl.stats_instant(plan.query, end - plan.range_ns + 1, end)
        if plan.reduce:
            cols = _columns(rows, plan.labels, lambda r: [r["value"]])
            for labels, by_ts in cols.items():
                for columns in by_ts.values():
                    v = reduce(plan, columns)
                    if v is not None:
                        out.setdefault(labels, {})[w.end] = v
            return out
        for row in rows:
            v = number(str(row["value"][1]))
            if v is not None:
                out.setdefault(_labels(row["metric"], plan.labels), {})[w.end] = v
        return out
    step = w.step_ns
    k, rest = divmod(plan.range_ns, step)
    if plan.range_ns != step and not (plan.combine and k >= 1 and rest == 0):
        raise _range_error(plan, step)
    # VictoriaLogs' bucket [t - step + 1, t + 1) is Loki's window (t - step, t] at point t; a
    # range of k steps is the k buckets up to t, combined
    start = w.start - plan.range_ns - plan.offset_ns + 1
    end = w.end - plan.offset_ns
    offset = (-start) % step  # VictoriaLogs starts buckets at multiples of step minus offset
    rows = await vl.stats_range(plan.query, start, end, step, offset)

    def point(ts: Any) -> int:
        # a bucket's start comes back in float seconds: snap its window's end to the grid
        t = round(float(ts) * NS) + step - 1 + plan.offset_ns
        return w.start + round((t - w.start) / step) * step

    if plan.reduce:
        cols = _columns(rows, plan.labels, lambda r: list(r["values"]))
        ends = {labels: {point(ts): c for ts, c in by_ts.items()} for labels, by_ts in cols.items()}
        return _reduced_series(plan, ends, w.times(), step, k)
    combines: dict[str, Callable[[list[float]], float]] = {
        "max": max,
        "min": min,
        "first": lambda got: got[0],
        "last": lambda got: got[-1],
    }
    combine = combines.get(plan.combine, math.fsum)
    for row in rows:
        labels = _labels(row["metric"], plan.labels)
        buckets: dict[int, float] = {}
        for ts, text in row["values"]:
            v = number(str(text))
            if v is not None:
                buckets[point(ts)] = v
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


def _key(labels: Labels, plan: BinaryPlan) -> Labels:
    if plan.on is None:
        return labels
    names = {loki_name(n) for n in plan.on}
    return tuple((k, v) for k, v in labels if (k in names) != plan.ignoring)


def _elem(plan: BinaryPlan, a: float, b: float) -> float | None:
    """Return ``a op b``; for a comparison ``a`` (or 1/0 with bool), None when it drops."""
    if plan.op in _ARITH:
        return _ARITH[plan.op](a, b)
    keep = _CMP[plan.op](a, b)
    if plan.bool_modifier:
        return 1.0 if keep else 0.0
    return a if keep else None


def _set_op(plan: BinaryPlan, left: Series, right: Series) -> Series:
    out: Series = {}
    right_keys: dict[Labels, set[int]] = {}
    for labels, points in right.items():
        right_keys.setdefault(_key(labels, plan), set()).update(points)
    if plan.op in ("and", "unless"):
        for labels, points in left.items():
            other = right_keys.get(_key(labels, plan), set())
            kept = {t: v for t, v in points.items() if (t in other) == (plan.op == "and")}
            if kept:
                out[labels] = kept
        return out
    out = {k: dict(v) for k, v in left.items()}
    left_keys: dict[Labels, set[int]] = {}
    for labels, points in left.items():
        left_keys.setdefault(_key(labels, plan), set()).update(points)
    for labels, points in right.items():
        taken = left_keys.get(_key(labels, plan), set())
        extra = {t: v for t, v in points.items() if t not in taken}
        if extra:
            out.setdefault(labels, {}).update(extra)
    return out


def _grouped(plan: BinaryPlan, left: Series, right: Series) -> Series:
    """Return a many-to-one (group_left) or one-to-many (group_right) match."""
    many, one = (left, right) if plan.group == "left" else (right, left)
    ones: dict[Labels, tuple[Labels, dict[int, float]]] = {}
    for labels, points in one.items():
        key = _key(labels, plan)
        if key in ones and set(ones[key][1]) & set(points):
            raise LogQLTranslationError(
                f"group_{plan.group}", "many-to-many matching: the labels on the one side repeat"
            )
        merged = {**ones[key][1], **points} if key in ones else dict(points)
        ones[key] = (labels, merged)
    out: Series = {}
    for labels, points in many.items():
        match = ones.get(_key(labels, plan))
        if match is None:
            continue
        one_labels, one_points = match
        result = dict(labels)
        extra = dict(one_labels)
        for name in plan.include:
            if extra.get(name):
                result[name] = extra[name]
            else:
                result.pop(name, None)
        values: dict[int, float] = {}
        for t, v in points.items():
            if t not in one_points:
                continue
            a, b = (v, one_points[t]) if plan.group == "left" else (one_points[t], v)
            r = _elem(plan, a, b)
            if r is not None:
                values[t] = r
        if values:
            out.setdefault(tuple(sorted(result.items())), {}).update(values)
    return out


def _join(plan: BinaryPlan, left: Series, right: Series) -> Series:
    if plan.op in ("and", "or", "unless"):
        return _set_op(plan, left, right)
    if plan.group:
        return _grouped(plan, left, right)
    by_key: dict[Labels, dict[int, float]] = {}
    for labels, points in right.items():
        by_key.setdefault(_key(labels, plan), {}).update(points)
    out: Series = {}
    for labels, points in left.items():
        key = _key(labels, plan)
        if key not in by_key:
            continue
        other = by_key[key]
        result_labels = key if plan.on is not None else labels
        values: dict[int, float] = {}
        for t, a in points.items():
            if t in other and (r := _elem(plan, a, other[t])) is not None:
                values[t] = r
        if values:
            out.setdefault(result_labels, {}).update(values)
    return out


def _scalar_series(value: float, w: Window) -> Series:
    return {(): dict.fromkeys(w.times(), value)}


_EXPAND = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]*)\}|([A-Za-z0-9_]+))")


def _expand(template: str, m: re.Match[str]) -> str:
    """Return Go's regexp Expand of ``template`` ($1, ${1}, $name; a missing group is empty)."""

    def one(e: re.Match[str]) -> str:
        name = e.group(1) if e.group(1) is not None else e.group(2)
        if name is None:
            return "$"
        if name.isdigit():
            index = int(name)
            return (m.group(index) or "") if index <= (m.re.groups) else ""
        return (m.group(name) or "") if name in m.re.groupindex else ""

    return _EXPAND.sub(one, template)


def _label_replace(plan: LabelReplacePlan, inner: Series) -> Series:
    """Return the series with ``dst`` set from ``src`` where the regex matches it whole."""
    out: Series = {}
    for labels, points in inner.items():
        current = dict(labels)
        m = plan.regex.fullmatch(current.get(plan.src, ""))
        if m is not None:
            value = _expand(plan.replacement, m)
            if value:
                current[plan.dst] = value
            else:
                current.pop(plan.dst, None)
        out.setdefault(tuple(sorted(current.items())), {}).update(points)
    return out


_AGG: dict[str, Callable[[list[float]], float]] = {
    "sum": math.fsum,
    "avg": statistics.fmean,
    "min": min,
    "max": max,
    "count": lambda vs: float(len(vs)),
    "stddev": statistics.pstdev,
    "stdvar": statistics.pvariance,
}


def _aggregate(plan: AggPlan, inner: Series) -> Series:
    """Return a vector aggregation of series, by or without labels."""
    names = set(plan.labels or ())

    def key(labels: Labels) -> Labels:
        return tuple((k, v) for k, v in labels if (k in names) != plan.without)

    if plan.op in ("sort", "sort_desc"):
        last = max((t for points in inner.values() for t in points), default=0)
        ordered = sorted(inner.items(), key=lambda kv: kv[1].get(last, math.nan))
        return dict(reversed(ordered) if plan.op == "sort_desc" else ordered)
    out: Series = {}
    if plan.op in ("topk", "bottomk"):
        k = int(plan.param)
        by_time: dict[tuple[Labels, int], list[tuple[float, Labels]]] = {}
        for labels, points in inner.items():
            for t, v in points.items():
                by_time.setdefault((key(labels), t), []).append((v, labels))
        for (_group, t), items in by_time.items():
            items.sort(key=lambda item: item[0], reverse=plan.op == "topk")
            for v, labels in items[:k]:
                out.setdefault(labels, {})[t] = v
        return out
    fn = _AGG[plan.op]
    groups: dict[Labels, dict[int, list[float]]] = {}
    for labels, points in inner.items():
        for t, v in points.items():
            groups.setdefault(key(labels), {}).setdefault(t, []).append(v)
    return {g: {t: fn(vs) for t, vs in points.items()} for g, points in groups.items()}


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
    if isinstance(plan, VectorPlan):
        return _scalar_series(plan.value, w)
    if isinstance(plan, LabelReplacePlan):
        return _label_replace(plan, await evaluate(vl, plan.inner, w))
    if isinstance(plan, AggPlan):
        return _aggregate(plan, await evaluate(vl, plan.inner, w))
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
                r = _elem(plan, a, b)
                if r is not None:
                    # a comparison keeps the vector's value, whichever side it is on
                    vals[t] = v if plan.op in _CMP and not plan.bool_modifier else r
            if vals:
                out[labels] = vals
        return out
    return _join(plan, left, right)


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
