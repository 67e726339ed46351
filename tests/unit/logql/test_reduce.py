"""Loki's quantile, rate_counter and label_replace as the Loki API computes them from stats."""

from __future__ import annotations

import json
import math
import re

import pytest

from sentio.logql.evaluate import _aggregate, _expand
from sentio.logql.reduce import merge, quantile, rate_counter
from sentio.logql.translate import RATE_COUNTER_COLUMNS, AggPlan, ScalarPlan, StatsPlan
from sentio.logql.victorialogs import rfc3339

NS = 1_000_000_000


@pytest.mark.parametrize(
    ("q", "values", "expected"),
    [
        (0.5, [1, 2, 3, 4], 2.5),
        (0.9, [10, 20, 30, 40, 50], 46.0),
        (0.25, [7], 7.0),
        (0.75, [4, 1, 3, 2], 3.25),
        (-0.1, [1, 2], -math.inf),
        (1.5, [1, 2], math.inf),
    ],
)
def test_quantile_interpolates_between_ranks(q: float, values: list[int], expected: float) -> None:
    assert quantile(q, json.dumps([str(v) for v in values])) == expected


def test_quantile_of_no_number_is_no_sample() -> None:
    assert quantile(0.5, '["x", ""]') is None
    assert quantile(0.5, "[]") is None


def columns(samples: list[tuple[int, float]], prev: float | None = None) -> dict[str, str]:
    """Return the stats columns VictoriaLogs answers for one window of samples."""
    n, v0, v1, t0, t1, resets, reset0 = RATE_COUNTER_COLUMNS
    contrib = []
    last = prev
    for _t, v in samples:
        contrib.append(last if last is not None and v < last else 0.0)
        last = v
    return {
        n: str(len(samples)),
        v0: repr(samples[0][1]),
        v1: repr(samples[-1][1]),
        t0: rfc3339(samples[0][0]),
        t1: rfc3339(samples[-1][0]),
        resets: repr(sum(contrib)),
        reset0: repr(contrib[0]),
    }


def loki(samples: list[tuple[int, float]], range_s: float) -> float:
    """Return Loki's extrapolatedRate(counter, rate) of the samples, written out by hand."""
    inc = samples[-1][1] - samples[0][1]
    last = 0.0
    for _t, v in samples:
        inc += last if v < last else 0.0
        last = v
    sampled = (samples[-1][0] - samples[0][0]) / 1000
    avg = sampled / (len(samples) - 1)
    start = min(range_s, sampled * samples[0][1] / inc) if inc > 0 else range_s
    span = sampled + (start if start < avg * 1.1 else avg / 2)
    return inc * span / sampled / range_s


def test_rate_counter_counts_resets_and_extrapolates_as_loki() -> None:
    base = 1_700_000_000 * NS
    samples = [(base + i * 10 * NS, v) for i, v in enumerate([5.0, 9.0, 2.0, 6.0, 1.0])]
    got = rate_counter(columns(samples, prev=100.0), 60 * NS)
    assert got is not None and math.isclose(got, loki(samples, 60.0))
    assert rate_counter(columns(samples[:1]), 60 * NS) == 0.0


def test_merged_buckets_give_the_whole_window() -> None:
    base = 1_700_000_000 * NS
    samples = [(base + i * 10 * NS, v) for i, v in enumerate([5.0, 9.0, 2.0, 6.0, 1.0, 4.0])]
    whole = rate_counter(columns(samples, prev=50.0), 120 * NS)
    parts = [columns(samples[:3], prev=50.0), columns(samples[3:], prev=samples[2][1])]
    plan = StatsPlan("", 120 * NS, reduce="rate_counter")
    assert rate_counter(merge(plan, parts), 120 * NS) == whole
    qplan = StatsPlan("", 120 * NS, reduce="quantile", param=0.5)
    merged = merge(qplan, [{"logql_values": '["1", "5"]'}, {"logql_values": '["3"]'}])
    assert quantile(0.5, merged["logql_values"]) == 3.0


def test_go_expansion_of_label_replace() -> None:
    m = re.compile("(?:pump-(?P<n>[0-9]+))").fullmatch("pump-12")
    assert m is not None
    assert _expand("$1", m) == "12"
    assert _expand("${1}x", m) == "12x"
    assert _expand("$1x", m) == ""  # Go reads the name "1x", which is no group
    assert _expand("$n-$$", m) == "12-$"
    assert _expand("$9", m) == ""


def test_aggregations_over_series() -> None:
    inner = {
        (("a", "1"), ("b", "x")): {1: 1.0, 2: 5.0},
        (("a", "1"), ("b", "y")): {1: 3.0},
        (("a", "2"), ("b", "x")): {1: 2.0},
    }
    assert _aggregate(AggPlan("sum", ScalarPlan(0), ("a",)), inner) == {
        (("a", "1"),): {1: 4.0, 2: 5.0},
        (("a", "2"),): {1: 2.0},
    }
    assert _aggregate(AggPlan("max", ScalarPlan(0), ("a",), without=True), inner) == {
        (("b", "x"),): {1: 2.0, 2: 5.0},
        (("b", "y"),): {1: 3.0},
    }
    top = _aggregate(AggPlan("topk", ScalarPlan(0), ("a",), param=1), inner)
    assert top == {(("a", "1"), ("b", "y")): {1: 3.0}, (("a", "1"), ("b", "x")): {2: 5.0},
                   (("a", "2"), ("b", "x")): {1: 2.0}}  # fmt: skip
