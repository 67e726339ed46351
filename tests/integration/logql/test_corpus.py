# ruff: noqa: E501
"""The LogQL corpus: each query through the Loki API against the known records in VictoriaLogs.

Each expected answer is computed here from the records (``dataset.Rec``), with plain Python.
"""

from __future__ import annotations

import base64
import math
import re
import statistics
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from tests.integration.logql.conftest import LogqlEnv, send_otlp
from tests.integration.logql.dataset import ANSI, NS, Rec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

Labels = frozenset[tuple[str, str]]
Recs = list[Rec]
ALL = '{service_name=~"plant-.*"}'
WINDOW_S = 1800  # the [30m] of instant queries: every record


@dataclass(frozen=True)
class Case:
    """One query and how to compute its answer from the records."""

    query: str
    kind: str  # lines | vector | matrix | labels | topk
    expected: Callable[[Recs], Any]


CASES: list[Case] = []


def lines(query: str, pred: Callable[[Rec], bool], fmt: Callable[[Rec], str] | None = None) -> None:
    """Add a log query whose answer is the bodies (or ``fmt``) of the matching records."""

    def expected(recs: Recs) -> list[str]:
        return [(fmt or (lambda r: r.body))(r) for r in recs if pred(r)]

    CASES.append(Case(query, "lines", expected))


def vector(query: str, fn: Callable[[Recs], dict[Labels, float]]) -> None:
    """Add an instant metric query at the end of the data."""
    CASES.append(Case(query, "vector", fn))


def lab(**kv: str) -> Labels:
    """Return a label set."""
    return frozenset(kv.items())


def group(
    recs: Recs, key: Callable[[Rec], Labels], value: Callable[[Recs], float]
) -> dict[Labels, float]:
    """Return ``value`` of the records of each ``key``."""
    out: dict[Labels, list[Rec]] = defaultdict(list)
    for r in recs:
        out[key(r)].append(r)
    return {k: value(v) for k, v in out.items()}


def stream(r: Rec) -> Labels:
    return lab(service_name=r.service, host_name=r.host)


def contains(s: str) -> Callable[[Rec], bool]:
    return lambda r: s in r.body


def regex(p: str, flags: int = 0) -> Callable[[Rec], bool]:
    return lambda r: re.search(p, r.body, flags) is not None


def num(d: dict[str, str], key: str) -> float | None:
    try:
        return float(d[key])
    except (KeyError, ValueError):
        return None


def dur_s(text: str) -> float:
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


def kb(text: str) -> float:
    return float(text[:-2]) * 1000


# --- selectors -------------------------------------------------------------------------------
SELECTORS: list[tuple[str, Callable[[Rec], bool]]] = [
    ('{service_name="plant-a"}', lambda r: r.service == "plant-a"),
    ('{service_name!="plant-a"}', lambda r: r.service != "plant-a"),
    (ALL, lambda r: True),
    ('{service_name=~"plant-a|plant-b", host_name="edge-1"}', lambda r: r.host == "edge-1"),
    (
        '{service_name="plant-b", host_name!~"edge-1"}',
        lambda r: r.service == "plant-b" and r.host != "edge-1",
    ),
    ('{device="pump-1"}', lambda r: r.device == "pump-1"),
    ('{detected_level="warn"}', lambda r: r.level == "warn"),
    (
        '{detected_level="error", service_name="plant-a"}',
        lambda r: r.level == "error" and r.service == "plant-a",
    ),
    (
        '{level=~"info|debug", service_name="plant-b"}',
        lambda r: r.level in ("info", "debug") and r.service == "plant-b",
    ),
    (
        '{service_name="plant-a", device!="pump-0"}',
        lambda r: r.service == "plant-a" and r.device != "pump-0",
    ),
    ('{device=~"pump-[12]"}', lambda r: r.device in ("pump-1", "pump-2")),
]
for sel, pred in SELECTORS:
    lines(sel, pred)

# --- line filters over two selectors ---------------------------------------------------------
LINE_FILTERS: list[tuple[str, Callable[[Rec], bool]]] = [
    ('|= "timeout"', contains("timeout")),
    ('|= "Timeout"', contains("Timeout")),
    ('|~ "(?i)timeout"', regex("timeout", re.I)),
    ('!= "ALERT"', lambda r: "ALERT" not in r.body),
    ('!~ "status|ALERT"', lambda r: re.search("status|ALERT", r.body) is None),
    ('|= "pump-2"', contains("pump-2")),
    ('|= "cycle" != "Timeout"', lambda r: "cycle" in r.body and "Timeout" not in r.body),
    ('|~ "code=[0-3] "', regex("code=[0-3] ")),
    ('|= "timeout" or "ALERT"', lambda r: "timeout" in r.body or "ALERT" in r.body),
    ('|= "reading ok"', contains("reading ok")),
    ("|~ `temp=2[0-2]\\.5`", regex(r"temp=2[0-2]\.5")),
    ('|= "\\"status\\": 500"', contains('"status": 500')),
    (
        '|= "api/v1" |~ "latency_ms\\": [0-4]?[0-9],"',
        lambda r: (
            "api/v1" in r.body and re.search(r'latency_ms": [0-4]?[0-9],', r.body) is not None
        ),
    ),
    ('!= "a" != "e"', lambda r: "a" not in r.body and "e" not in r.body),
]
for sel, spred in (SELECTORS[0], SELECTORS[2], SELECTORS[5]):
    for lf, lpred in LINE_FILTERS:
        lines(f"{sel} {lf}", lambda r, s=spred, p=lpred: s(r) and p(r))


# --- parsers and label filters ---------------------------------------------------------------
def lf(r: Rec, key: str) -> float | None:
    return num(r.logfmt(), key)


def js(r: Rec, key: str) -> float | None:
    return num(r.json(), key)


PARSED: list[tuple[str, Callable[[Rec], bool]]] = [
    ("| logfmt | temp > 23", lambda r: (lf(r, "temp") or 0) > 23),
    (
        '| logfmt | temp >= 22.5 and device="pump-0"',
        lambda r: (lf(r, "temp") or 0) >= 22.5 and r.device == "pump-0",
    ),
    (
        "| logfmt | duration > 200ms",
        lambda r: r.kind == "logfmt" and dur_s(r.logfmt()["duration"]) > 0.2,
    ),
    (
        "| logfmt | duration <= 0.1s",
        lambda r: r.kind == "logfmt" and dur_s(r.logfmt()["duration"]) <= 0.1,
    ),
    ("| logfmt | size > 3KB", lambda r: r.kind == "logfmt" and kb(r.logfmt()["size"]) > 3000),
    ("| logfmt | size == 2KB", lambda r: r.kind == "logfmt" and kb(r.logfmt()["size"]) == 2000),
    (
        '| logfmt | msg="reading ok", temp < 21',
        lambda r: r.logfmt().get("msg") == "reading ok" and (lf(r, "temp") or 99) < 21,
    ),
    ("| json | status >= 500", lambda r: (js(r, "status") or 0) >= 500),
    ("| json | status = 404", lambda r: js(r, "status") == 404),
    (
        "| json | status != 200 and latency_ms < 30",
        lambda r: r.kind == "json" and js(r, "status") != 200 and (js(r, "latency_ms") or 0) < 30,
    ),
    ('| json | path="/api/v1"', lambda r: r.json().get("path") == "/api/v1"),
    (
        '| json | path=~"/api/v[01]" | latency_ms > 50',
        lambda r: r.kind == "json" and (js(r, "latency_ms") or 0) > 50,
    ),
    (
        "| json | status >= 500 or latency_ms > 90",
        lambda r: (
            r.kind == "json" and ((js(r, "status") or 0) >= 500 or (js(r, "latency_ms") or 0) > 90)
        ),
    ),
    ('| json uid="user.id" | uid="u1"', lambda r: r.json().get("user_id") == "u1"),
    ("| json status | status=201", lambda r: js(r, "status") == 201),
    (
        '| json | path!="/api/v0" | status < 300',
        lambda r: (
            r.kind == "json" and r.json()["path"] != "/api/v0" and (js(r, "status") or 0) < 300
        ),
    ),
    ("| unpack | status >= 500", lambda r: (js(r, "status") or 0) >= 500),
    (
        '| regexp "code=(?P<code>\\\\d+) zone=(?P<zone>z\\\\d)" | zone="z1"',
        lambda r: "zone=z1" in r.body,
    ),
    (
        '| regexp "code=(?P<code>\\\\d+)" | code >= 7',
        lambda r: (m := re.search(r"code=(\d+)", r.body)) is not None and int(m.group(1)) >= 7,
    ),
    (
        '| regexp "cycle (?P<cycle>\\\\d+)" | cycle > 50',
        lambda r: (m := re.search(r"cycle (\d+)", r.body)) is not None and int(m.group(1)) > 50,
    ),
    (
        '| pattern "<_> cycle <n> <word> after <secs> s" | secs >= 10',
        lambda r: (m := re.search(r"after (\d+) s", r.body)) is not None and int(m.group(1)) >= 10,
    ),
    (
        '| pattern "<dev> cycle <_>" | dev="pump-2"',
        lambda r: r.kind == "plain" and r.device == "pump-2",
    ),
    (
        '| pattern "<_> cycle <_> <word> <_>" | word="timeout"',
        lambda r: r.kind == "plain" and " timeout " in r.body,
    ),
    ('| trace_id="0000000000000000000000000000000c"', lambda r: r.i == 12),
    ('| trace_id!="" | device="pump-0"', lambda r: bool(r.trace_id) and r.device == "pump-0"),
    ('| detected_level="error" | logfmt', lambda r: r.level == "error"),
    ('| device="pump-3" or device="pump-1"', lambda r: r.device in ("pump-3", "pump-1")),
    (
        '| device=~"pump-[23]" | detected_level!="debug"',
        lambda r: r.device in ("pump-2", "pump-3") and r.level != "debug",
    ),
    ('| logfmt | __error__=""', lambda r: True),
]
for q, pred in PARSED:
    lines(f"{ALL} {q}", pred)

# --- formatting ------------------------------------------------------------------------------
lines(f'{ALL} |= "ALERT" | decolorize', contains("ALERT"), lambda r: ANSI.sub("", r.body))
lines(
    f'{ALL} | decolorize |= "ALERT code"',
    lambda r: "ALERT code" in ANSI.sub("", r.body),
    lambda r: ANSI.sub("", r.body),
)
lines(
    '{device="pump-1"} | line_format "{{.device}} {{.service_name}}"',
    lambda r: r.device == "pump-1",
    lambda r: f"{r.device} {r.service}",
)
lines(
    f'{ALL} |= "reading" | logfmt | line_format "{{{{.device}}}}:{{{{.temp}}}}"',
    contains("reading"),
    lambda r: f"{r.device}:{r.logfmt()['temp']}",
)
lines(
    f'{ALL} | json | line_format "{{{{.path}}}} {{{{ .status }}}}"',
    lambda r: True,
    lambda r: f"{r.json().get('path', '')} {r.json().get('status', '')}",
)
lines(
    f'{ALL} | label_format dev=device | line_format "{{{{.dev}}}}"',
    lambda r: True,
    lambda r: r.device,
)
lines(
    f'{ALL} | label_format where="{{{{.host_name}}}}/{{{{.device}}}}" | line_format "{{{{.where}}}}"',
    lambda r: True,
    lambda r: f"{r.host}/{r.device}",
)
lines(
    f'{ALL} | line_format "{{{{__line__}}}}!" |= "ok\\"!"',
    lambda r: r.body.endswith('ok"'),
    lambda r: r.body + "!",
)
lines(
    f'{ALL} | json | line_format "{{{{.status}}}}" |= "50"',
    lambda r: str(r.json().get("status", "")).startswith("50"),
    lambda r: str(r.json()["status"]),
)
CASES.append(
    Case(
        f"{ALL} | drop trace_id, severity_number",
        "labels",
        lambda recs: ("absent", {"trace_id", "severity_number"}),
    )
)
CASES.append(
    Case(
        f"{ALL} | keep device, service_name",
        "labels",
        lambda recs: ("exactly", {"device", "service_name"}),
    )
)
CASES.append(Case(f"{ALL} | logfmt | keep temp", "labels", lambda recs: ("subset", {"temp"})))

# --- metric queries: instant, over every record ----------------------------------------------
R = "[30m]"
METRIC_SELECTORS = [SELECTORS[0], SELECTORS[2], SELECTORS[3], SELECTORS[5], SELECTORS[6]]


def sel_recs(pred: Callable[[Rec], bool]) -> Callable[[Recs], Recs]:
    return lambda recs: [r for r in recs if pred(r)]


for sel, pred in METRIC_SELECTORS:
    pick = sel_recs(pred)
    vector(f"count_over_time({sel}{R})", lambda recs, p=pick: group(p(recs), stream, len))
    vector(
        f"sum(count_over_time({sel}{R}))",
        lambda recs, p=pick: {lab(): float(len(p(recs)))} if p(recs) else {},
    )
    vector(
        f"sum by (device) (count_over_time({sel}{R}))",
        lambda recs, p=pick: group(p(recs), lambda r: lab(device=r.device), len),
    )
    vector(
        f"sum by (detected_level) (count_over_time({sel}{R}))",
        lambda recs, p=pick: group(p(recs), lambda r: lab(detected_level=r.level), len),
    )
    vector(
        f"sum by (service_name, device) (rate({sel}{R}))",
        lambda recs, p=pick: group(
            p(recs),
            lambda r: lab(service_name=r.service, device=r.device),
            lambda v: len(v) / WINDOW_S,
        ),
    )
    vector(
        f"sum(bytes_over_time({sel}{R}))",
        lambda recs, p=pick: {lab(): float(sum(len(r.body.encode()) for r in p(recs)))},
    )
    vector(
        f"sum by (host_name) (bytes_rate({sel}{R}))",
        lambda recs, p=pick: group(
            p(recs),
            lambda r: lab(host_name=r.host),
            lambda v: sum(len(r.body.encode()) for r in v) / WINDOW_S,
        ),
    )
    vector(
        f"count(count_over_time({sel}{R}))",
        lambda recs, p=pick: {lab(): float(len({stream(r) for r in p(recs)}))},
    )
    vector(
        f"max by (device) (count_over_time({sel}{R}))",
        lambda recs, p=pick: {
            k: max(vs.values()) for k, vs in _per(p(recs), lambda r: lab(device=r.device)).items()
        },
    )
    vector(
        f"avg(count_over_time({sel}{R}))",
        lambda recs, p=pick: {lab(): statistics.mean(group(p(recs), stream, len).values())},
    )
    vector(
        f"min by (host_name) (count_over_time({sel}{R}))",
        lambda recs, p=pick: {
            k: min(vs.values()) for k, vs in _per(p(recs), lambda r: lab(host_name=r.host)).items()
        },
    )


def _per(recs: Recs, outer: Callable[[Rec], Labels]) -> dict[Labels, dict[Labels, float]]:
    """Return, for each outer label set, the count of each stream within it."""
    out: dict[Labels, dict[Labels, float]] = defaultdict(lambda: defaultdict(float))
    for r in recs:
        out[outer(r)][stream(r)] += 1
    return out


def unwrap_vals(recs: Recs, parse: Callable[[Rec], float | None]) -> list[float]:
    return [v for r in recs if (v := parse(r)) is not None]


def by_key(
    recs: Recs,
    key: Callable[[Rec], Labels],
    parse: Callable[[Rec], float | None],
    agg: Callable[[list[float]], float],
) -> dict[Labels, float]:
    out: dict[Labels, list[float]] = defaultdict(list)
    for r in recs:
        v = parse(r)
        if v is not None:
            out[key(r)].append(v)
    return {k: agg(v) for k, v in out.items()}


temp = lambda r: lf(r, "temp")  # noqa: E731
lat = lambda r: js(r, "latency_ms")  # noqa: E731
dev = lambda r: lab(device=r.device)  # noqa: E731
vector(
    f"sum_over_time({ALL} | logfmt | unwrap temp {R}) by (device)",
    lambda recs: by_key(recs, dev, temp, sum),
)
vector(
    f"avg_over_time({ALL} | json | unwrap latency_ms {R}) by (path)",
    lambda recs: by_key(recs, lambda r: lab(path=r.json().get("path", "")), lat, statistics.mean),
)
vector(
    f"max_over_time({ALL} | json | unwrap latency_ms {R}) by (service_name)",
    lambda recs: by_key(recs, lambda r: lab(service_name=r.service), lat, max),
)
vector(
    f"min_over_time({ALL} | logfmt | unwrap temp {R}) by (host_name)",
    lambda recs: by_key(recs, lambda r: lab(host_name=r.host), temp, min),
)
vector(
    f"stddev_over_time({ALL} | json | unwrap latency_ms {R}) by (path)",
    lambda recs: by_key(recs, lambda r: lab(path=r.json().get("path", "")), lat, statistics.pstdev),
)
vector(
    f"stdvar_over_time({ALL} | json | unwrap latency_ms {R}) by (path)",
    lambda recs: by_key(
        recs, lambda r: lab(path=r.json().get("path", "")), lat, statistics.pvariance
    ),
)
vector(
    f"sum by (device) (sum_over_time({ALL} | logfmt | unwrap duration(duration) {R}))",
    lambda recs: by_key(
        recs, dev, lambda r: dur_s(r.logfmt()["duration"]) if r.kind == "logfmt" else None, sum
    ),
)
vector(
    f"sum(sum_over_time({ALL} | logfmt | unwrap bytes(size) {R}))",
    lambda recs: {
        lab(): sum(
            unwrap_vals(recs, lambda r: kb(r.logfmt()["size"]) if r.kind == "logfmt" else None)
        )
    },
)
vector(
    f"quantile_over_time(1, {ALL} | json | unwrap latency_ms {R}) by (path)",
    lambda recs: by_key(recs, lambda r: lab(path=r.json().get("path", "")), lat, max),
)
vector(
    f"quantile_over_time(0, {ALL} | logfmt | unwrap temp {R}) by (device)",
    lambda recs: by_key(recs, dev, temp, min),
)
vector(
    f"max by (device) (max_over_time({ALL} | json | unwrap latency_ms {R}))",
    lambda recs: by_key(recs, dev, lat, max),
)
vector(
    f"sum by (device) (rate({ALL} | logfmt | unwrap temp {R}))",
    lambda recs: by_key(recs, dev, temp, lambda v: sum(v) / WINDOW_S),
)
vector(
    f"sum(count_over_time({ALL} | json | status >= 500 {R}))",
    lambda recs: {lab(): float(sum(1 for r in recs if (js(r, "status") or 0) >= 500))},
)
vector(
    f'sum by (zone) (count_over_time({ALL} | regexp "zone=(?P<zone>z\\\\d)" {R}))',
    lambda recs: group(
        recs,
        lambda r: lab(zone=m.group(1)) if (m := re.search(r"zone=(z\d)", r.body)) else lab(),
        len,
    ),
)
vector(
    f'sum by (device) (count_over_time({ALL} |~ "(?i)timeout" {R}))',
    lambda recs: group([r for r in recs if "timeout" in r.body.lower()], dev, len),
)
vector(
    f'absent_over_time({{service_name="nope"}}{R})', lambda recs: {lab(service_name="nope"): 1.0}
)
vector(f'absent_over_time({{service_name="plant-a"}}{R})', lambda recs: {})
vector(
    f"sum(count_over_time({ALL}[5m] offset 10m))",
    lambda recs: {
        lab(): float(
            sum(1 for r in recs if END_OFFSET[0] - 900 * NS < r.time_ns <= END_OFFSET[0] - 600 * NS)
        )
    },
)

# --- binary operators ------------------------------------------------------------------------
A = '{service_name="plant-a"}'
B = '{service_name="plant-b"}'


def total(recs: Recs, pred: Callable[[Rec], bool] = lambda r: True) -> float:
    return float(sum(1 for r in recs if pred(r)))


def per_dev(recs: Recs, pred: Callable[[Rec], bool]) -> dict[Labels, float]:
    return group([r for r in recs if pred(r)], dev, len)


is_a = lambda r: r.service == "plant-a"  # noqa: E731
is_b = lambda r: r.service == "plant-b"  # noqa: E731
vector(
    f"sum(count_over_time({A}{R})) / sum(count_over_time({ALL}{R}))",
    lambda recs: {lab(): total(recs, is_a) / total(recs)},
)
vector(f"sum(count_over_time({A}{R})) * 100", lambda recs: {lab(): total(recs, is_a) * 100})
vector(f"2 * sum(count_over_time({B}{R})) + 1", lambda recs: {lab(): 2 * total(recs, is_b) + 1})
vector(f"sum(count_over_time({B}{R})) - 10", lambda recs: {lab(): total(recs, is_b) - 10})
vector(f"100 / sum(count_over_time({B}{R}))", lambda recs: {lab(): 100 / total(recs, is_b)})
vector(f"sum(count_over_time({B}{R})) ^ 2", lambda recs: {lab(): total(recs, is_b) ** 2})
vector(f"sum(count_over_time({B}{R})) % 7", lambda recs: {lab(): total(recs, is_b) % 7})
vector(
    f"sum by (device) (count_over_time({ALL}{R})) > 23",
    lambda recs: {k: v for k, v in per_dev(recs, lambda r: True).items() if v > 23},
)
vector(
    f"sum by (device) (count_over_time({A}{R})) - sum by (device) (count_over_time({B}{R}))",
    lambda recs: {
        k: v - per_dev(recs, is_b)[k]
        for k, v in per_dev(recs, is_a).items()
        if k in per_dev(recs, is_b)
    },
)
vector(
    f"sum by (device) (count_over_time({A}{R})) / on (device) sum by (device) (count_over_time({ALL}{R}))",
    lambda recs: {k: v / per_dev(recs, lambda r: True)[k] for k, v in per_dev(recs, is_a).items()},
)
vector(
    f"sum by (device) (count_over_time({A}{R})) > sum by (device) (count_over_time({B}{R}))",
    lambda recs: {
        k: v for k, v in per_dev(recs, is_a).items() if v > per_dev(recs, is_b).get(k, math.inf)
    },
)
vector(
    f'sum by (device) (count_over_time({ALL}{R})) and sum by (device) (count_over_time({ALL} |= "timeout" {R}))',
    lambda recs: {
        k: v
        for k, v in per_dev(recs, lambda r: True).items()
        if k in per_dev(recs, contains("timeout"))
    },
)
vector(
    f'sum by (device) (count_over_time({ALL}{R})) unless sum by (device) (count_over_time({ALL} |= "timeout" {R}))',
    lambda recs: {
        k: v
        for k, v in per_dev(recs, lambda r: True).items()
        if k not in per_dev(recs, contains("timeout"))
    },
)
vector(
    f'sum by (device) (count_over_time({ALL} |= "timeout" {R})) or sum by (device) (count_over_time({ALL} |= "Timeout" {R}))',
    lambda recs: {**per_dev(recs, contains("Timeout")), **per_dev(recs, contains("timeout"))},
)

for k in (1, 2):
    CASES.append(
        Case(
            f"topk({k}, sum by (device) (count_over_time({A}{R})))",
            "topk",
            lambda recs, k=k: (k, True, per_dev(recs, is_a)),
        )
    )
    CASES.append(
        Case(
            f"bottomk({k}, sum by (detected_level) (count_over_time({A}{R})))",
            "topk",
            lambda recs, k=k: (
                k,
                False,
                group([r for r in recs if is_a(r)], lambda r: lab(detected_level=r.level), len),
            ),
        )
    )
CASES.append(
    Case(
        f'sort_desc(sum by (device) (count_over_time({A} |= "cycle" or "reading" {R})))',
        "sorted",
        lambda recs: (
            True,
            per_dev(recs, lambda r: is_a(r) and ("cycle" in r.body or "reading" in r.body)),
        ),
    )
)
CASES.append(
    Case(
        f"sort(sum by (host_name) (bytes_over_time({A}{R})))",
        "sorted",
        lambda recs: (
            False,
            group(
                [r for r in recs if is_a(r)],
                lambda r: lab(host_name=r.host),
                lambda v: sum(len(r.body) for r in v),
            ),
        ),
    )
)

# --- range queries: step = range = 1m ---------------------------------------------------------
MATRIX: list[tuple[str, Callable[[Rec], Labels | None], Callable[[Recs], float]]] = [
    (f"sum(count_over_time({ALL}[1m]))", lambda r: lab(), len),
    (
        f"sum by (host_name) (rate({ALL}[1m]))",
        lambda r: lab(host_name=r.host),
        lambda v: len(v) / 60,
    ),
    (
        f"sum by (detected_level) (count_over_time({ALL} | logfmt [1m]))",
        lambda r: lab(detected_level=r.level),
        len,
    ),
    (
        'count_over_time({device="pump-1"}[1m])',
        lambda r: stream(r) if r.device == "pump-1" else None,
        len,
    ),
    (
        f"sum(bytes_over_time({A}[1m]))",
        lambda r: lab() if is_a(r) else None,
        lambda v: sum(len(r.body) for r in v),
    ),
    (
        f"max by (device) (max_over_time({ALL} | json | unwrap latency_ms [1m]))",
        lambda r: dev(r) if r.kind == "json" else None,
        lambda v: max(lat(r) or 0 for r in v),
    ),
    (
        f'sum(count_over_time({ALL} |= "ALERT" [1m])) * 2',
        lambda r: lab() if "ALERT" in r.body else None,
        lambda v: 2 * len(v),
    ),
    (
        f"sum by (service_name) (count_over_time({ALL} | json | status >= 500 [1m]))",
        lambda r: lab(service_name=r.service) if (js(r, "status") or 0) >= 500 else None,
        len,
    ),
]
for q, key, agg in MATRIX:
    CASES.append(Case(q, "matrix", lambda recs, key=key, agg=agg: (key, agg, 60)))
# ranges of several steps: the buckets of each step combined
LONGER: list[tuple[str, int, Callable[[Rec], Labels | None], Callable[[Recs], float]]] = [
    (f"sum by (host_name) (count_over_time({ALL}[3m]))", 180, lambda r: lab(host_name=r.host), len),
    (
        f'sum(rate({ALL} |= "ALERT" [2m]))',
        120,
        lambda r: lab() if "ALERT" in r.body else None,
        lambda v: len(v) / 120,
    ),
    (
        'count_over_time({device="pump-1"}[5m])',
        300,
        lambda r: stream(r) if r.device == "pump-1" else None,
        len,
    ),
    (
        f"max by (device) (max_over_time({ALL} | json | unwrap latency_ms [4m]))",
        240,
        lambda r: dev(r) if r.kind == "json" else None,
        lambda v: max(lat(r) or 0 for r in v),
    ),
    (
        f"sum(bytes_over_time({A}[2m])) * 2",
        120,
        lambda r: lab() if is_a(r) else None,
        lambda v: 2 * sum(len(r.body) for r in v),
    ),
]
for q, rng, key, agg in LONGER:
    CASES.append(Case(q, "matrix", lambda recs, key=key, agg=agg, rng=rng: (key, agg, rng)))

END_OFFSET = [0]


# --- first/last, interpolated quantiles, rate_counter ----------------------------------------
def first(vs: list[float]) -> float:
    return vs[0]


def last(vs: list[float]) -> float:
    return vs[-1]


def quant(q: float) -> Callable[[list[float]], float]:
    """Return the quantile Loki takes: linear between the two nearest ranks."""
    cuts = {0.25: (4, 0), 0.75: (4, 2), 0.9: (10, 8), 0.1: (10, 0)}

    def f(vs: list[float]) -> float:
        if len(vs) == 1:
            return vs[0]
        if q == 0.5:
            return float(statistics.median(vs))
        n, i = cuts[q]
        return statistics.quantiles(vs, n=n, method="inclusive")[i]

    return f


def counter_rate(samples: list[tuple[int, float]], range_s: int) -> float:
    """Return Loki's rate_counter of time-ordered samples (its extrapolation, unit quirk kept)."""
    if len(samples) < 2:
        return 0.0
    increase = samples[-1][1] - samples[0][1]
    previous = 0.0
    for _t, v in samples:
        if v < previous:
            increase += previous
        previous = v
    to_start = float(range_s)
    sampled = (samples[-1][0] - samples[0][0]) / 1000
    average = sampled / (len(samples) - 1)
    if increase > 0 and samples[0][1] >= 0:
        to_start = min(to_start, sampled * samples[0][1] / increase)
    threshold = average * 1.1
    span = sampled + (to_start if to_start < threshold else average / 2)
    span += 0.0 if threshold > 0.0 else average / 2
    return increase * (span / sampled) / range_s


def counter_by(
    recs: Recs, key: Callable[[Rec], Labels], parse: Callable[[Rec], float | None], range_s: int
) -> dict[Labels, float]:
    samples: dict[Labels, list[tuple[int, float]]] = defaultdict(list)
    for r in sorted(recs, key=lambda r: r.time_ns):
        v = parse(r)
        if v is not None:
            samples[key(r)].append((r.time_ns, v))
    return {k: counter_rate(v, range_s) for k, v in samples.items()}


def two_level(
    recs: Recs,
    inner: Callable[[Rec], Labels],
    outer: Callable[[Labels], Labels],
    per: Callable[[Recs], dict[Labels, float]],
    agg: Callable[[list[float]], float],
) -> dict[Labels, float]:
    """Return ``agg`` over the outer groups of the inner series ``per`` computes."""
    out: dict[Labels, list[float]] = defaultdict(list)
    for k, v in per(recs).items():
        out[outer(k)].append(v)
    return {k: agg(v) for k, v in out.items()}


path = lambda r: lab(path=r.json().get("path", ""))  # noqa: E731
host = lambda r: lab(host_name=r.host)  # noqa: E731
dur = lambda r: dur_s(r.logfmt()["duration"]) if r.kind == "logfmt" else None  # noqa: E731
vector(
    f"first_over_time({ALL} | logfmt | unwrap temp {R}) by (device)",
    lambda recs: by_key(recs, dev, temp, first),
)
vector(
    f"last_over_time({ALL} | json | unwrap latency_ms {R}) by (path)",
    lambda recs: by_key(recs, path, lat, last),
)
vector(
    f"last_over_time({ALL} | json | unwrap latency_ms {R})",
    lambda recs: by_key(recs, stream, lat, last),
)
vector(
    f"first_over_time({ALL} | logfmt | unwrap duration(duration) {R}) by (service_name)",
    lambda recs: by_key(recs, lambda r: lab(service_name=r.service), dur, first),
)
vector(
    f"sum by (host_name) (first_over_time({ALL} | logfmt | unwrap temp {R}))",
    lambda recs: two_level(
        recs,
        stream,
        lambda k: lab(host_name=dict(k)["host_name"]),
        lambda rs: by_key(rs, stream, temp, first),
        math.fsum,
    ),
)
for q in (0.5, 0.9, 0.25):
    vector(
        f"quantile_over_time({q}, {ALL} | json | unwrap latency_ms {R}) by (path)",
        lambda recs, q=q: by_key(recs, path, lat, quant(q)),
    )
vector(
    f"quantile_over_time(0.75, {ALL} | logfmt | unwrap temp {R})",
    lambda recs: by_key(recs, stream, temp, quant(0.75)),
)
vector(
    f"quantile_over_time(0.1, {ALL} | logfmt | unwrap duration(duration) {R}) by (device)",
    lambda recs: by_key(recs, dev, dur, quant(0.1)),
)
vector(
    f"sum(quantile_over_time(0.5, {ALL} | json | unwrap latency_ms {R}))",
    lambda recs: {lab(): math.fsum(by_key(recs, stream, lat, quant(0.5)).values())},
)
vector(
    f"max by (host_name) (quantile_over_time(0.9, {ALL} | logfmt | unwrap temp {R}))",
    lambda recs: two_level(
        recs,
        stream,
        lambda k: lab(host_name=dict(k)["host_name"]),
        lambda rs: by_key(rs, stream, temp, quant(0.9)),
        max,
    ),
)
vector(
    f"quantile_over_time(0.9, {ALL} | json | unwrap latency_ms {R}) by (path) > 85",
    lambda recs: {k: v for k, v in by_key(recs, path, lat, quant(0.9)).items() if v > 85},
)
vector(
    f"quantile_over_time(0.5, {ALL} | json | unwrap latency_ms {R}) by (path) * 2",
    lambda recs: {k: 2 * v for k, v in by_key(recs, path, lat, quant(0.5)).items()},
)
vector(
    f"topk(1, quantile_over_time(0.25, {ALL} | json | unwrap latency_ms {R}) by (path))",
    lambda recs: dict([max(by_key(recs, path, lat, quant(0.25)).items(), key=lambda kv: kv[1])]),
)
vector(
    f"rate_counter({ALL} | json | unwrap latency_ms {R})",
    lambda recs: counter_by(recs, stream, lat, WINDOW_S),
)
vector(
    f"rate_counter({ALL} | json | unwrap latency_ms {R}) by (path)",
    lambda recs: counter_by(recs, path, lat, WINDOW_S),
)
vector(
    f"rate_counter({ALL} | logfmt | unwrap temp {R}) by (device)",
    lambda recs: counter_by(recs, dev, temp, WINDOW_S),
)
vector(
    f"sum by (host_name) (rate_counter({ALL} | json | unwrap latency_ms {R}))",
    lambda recs: two_level(
        recs,
        stream,
        lambda k: lab(host_name=dict(k)["host_name"]),
        lambda rs: counter_by(rs, stream, lat, WINDOW_S),
        math.fsum,
    ),
)
vector(
    f"rate_counter({ALL} | json | unwrap latency_ms {R}) by (path) * 60",
    lambda recs: {k: 60 * v for k, v in counter_by(recs, path, lat, WINDOW_S).items()},
)

vector(
    f"rate({ALL} | json | unwrap latency_ms {R}) by (path)",
    lambda recs: by_key(recs, path, lat, lambda v: math.fsum(v) / WINDOW_S),
)

# --- without over streams, bool, ignoring, group_left/group_right ----------------------------
vector(
    f"sum without (host_name) (count_over_time({ALL}{R}))",
    lambda recs: group(recs, lambda r: lab(service_name=r.service), len),
)
vector(
    f"max without (service_name, host_name) (count_over_time({ALL}{R}))",
    lambda recs: {lab(): float(max(group(recs, stream, len).values()))},
)
vector(
    f'sum without (device) (count_over_time({{device=~"pump-[12]"}}{R}))',
    lambda recs: group([r for r in recs if r.device in ("pump-1", "pump-2")], stream, len),
)
vector(
    f"avg without (service_name) (bytes_over_time({ALL}{R}))",
    lambda recs: two_level(
        recs,
        stream,
        lambda k: lab(host_name=dict(k)["host_name"]),
        lambda rs: group(rs, stream, lambda v: float(sum(len(r.body) for r in v))),
        statistics.fmean,
    ),
)
lvl = lambda r: lab(detected_level=r.level)  # noqa: E731
vector(
    f"sum by (detected_level) (count_over_time({ALL}{R})) > bool 19",
    lambda recs: {k: float(v > 19) for k, v in group(recs, lvl, len).items()},
)
vector(
    f'count_over_time({{device="pump-1"}}{R}) <= bool 8',
    lambda recs: {
        k: float(v <= 8)
        for k, v in group([r for r in recs if r.device == "pump-1"], stream, len).items()
    },
)
vector(
    f"sum(count_over_time({A}{R})) == bool 64", lambda recs: {lab(): float(total(recs, is_a) == 64)}
)
dev_svc = lambda r: lab(device=r.device, service_name=r.service)  # noqa: E731
vector(
    f"sum by (device, service_name) (count_over_time({A}{R})) - ignoring (service_name) sum by (device) (count_over_time({B}{R}))",
    lambda recs: {
        lab(device=dict(k)["device"]): v - per_dev(recs, is_b)[lab(device=dict(k)["device"])]
        for k, v in group([r for r in recs if is_a(r)], dev_svc, len).items()
    },
)
vector(
    f"sum by (device, service_name) (count_over_time({ALL}{R})) / ignoring (service_name) group_left sum by (device) (count_over_time({ALL}{R}))",
    lambda recs: {
        k: v / per_dev(recs, lambda r: True)[lab(device=dict(k)["device"])]
        for k, v in group(recs, dev_svc, len).items()
    },
)
vector(
    f"sum by (device) (count_over_time({ALL}{R})) * on (device) group_right sum by (device, service_name) (count_over_time({ALL}{R}))",
    lambda recs: {
        k: v * per_dev(recs, lambda r: True)[lab(device=dict(k)["device"])]
        for k, v in group(recs, dev_svc, len).items()
    },
)
vector(
    f"sum by (device, service_name) (count_over_time({ALL}{R})) / on (device) group_left (host_name) sum by (device, host_name) (count_over_time({ALL}{R}))",
    lambda recs: {
        frozenset({**dict(k), "host_name": r_host[dict(k)["device"]]}.items()): v
        / per_dev(recs, lambda r: True)[lab(device=dict(k)["device"])]
        for r_host in [{r.device: r.host for r in recs}]
        for k, v in group(recs, dev_svc, len).items()
    },
)
vector(
    f'sum by (device) (count_over_time({ALL}{R})) and ignoring (service_name) sum by (device, service_name) (count_over_time({B} |= "timeout" {R}))',
    lambda recs: {
        k: v
        for k, v in per_dev(recs, lambda r: True).items()
        if k in per_dev(recs, lambda r: is_b(r) and "timeout" in r.body)
    },
)

# --- template functions, ip() label filters, json paths with [...] ---------------------------
lines(
    '{device="pump-1"} | line_format "{{ .device | ToUpper }}"',
    lambda r: r.device == "pump-1",
    lambda r: r.device.upper(),
)
lines(
    '{device="pump-1"} | line_format "{{ ToLower .service_name }}/{{ upper .host_name }}"',
    lambda r: r.device == "pump-1",
    lambda r: f"{r.service.lower()}/{r.host.upper()}",
)
lines(
    ALL + ' |= "reading" | logfmt | line_format "{{ .msg | replace \\"ok\\" \\"OK\\" }}"',
    contains("reading"),
    lambda r: r.logfmt()["msg"].replace("ok", "OK"),
)
lines(
    '{device="pump-3"} | line_format "{{ .device | replace \\"pump\\" \\"P\\" | ToUpper }}!"',
    lambda r: r.device == "pump-3",
    lambda r: r.device.replace("pump", "P").upper() + "!",
)
lines(
    ALL + ' | label_format who="{{ default \\"nobody\\" .trace_id }}" | line_format "{{.who}}"',
    lambda r: True,
    lambda r: r.trace_id or "nobody",
)
lines(
    ALL + ' |= "cycle" | regexp "cycle \\\\d+(?P<w> [A-Za-z]+ )" | line_format "[{{ .w | trim }}]"',
    contains("cycle"),
    lambda r: f"[{r.body.split()[3]}]",
)
lines(
    ALL
    + ' |= "cycle" | regexp "cycle \\\\d+(?P<w> [A-Za-z]+ )" | line_format "{{ TrimSpace .w | lower }}"',
    contains("cycle"),
    lambda r: r.body.split()[3].lower(),
)
lines(
    '{device="pump-1"} | line_format "{{ __line__ | b64enc }}"',
    lambda r: r.device == "pump-1",
    lambda r: base64.b64encode(r.body.encode()).decode(),
)
lines(
    '{device="pump-1"} | line_format "{{ .device | trimPrefix \\"pump-\\" }}"',
    lambda r: r.device == "pump-1",
    lambda r: r.device.removeprefix("pump-"),
)
lines(
    '{device="pump-2"} | line_format "{{ trimAll \\"p2-\\" .device }}"',
    lambda r: r.device == "pump-2",
    lambda r: r.device.strip("p2-"),
)
lines(
    '{device="pump-1"} | line_format "{{ regexReplaceAll \\"pump-([0-9])\\" .device \\"unit${1}\\" }}"',
    lambda r: r.device == "pump-1",
    lambda r: "unit" + r.device[-1],
)
lines(
    ALL + ' |= "reading" | logfmt | line_format "{{ .duration | trimSuffix \\"ms\\" }}"',
    contains("reading"),
    lambda r: r.logfmt()["duration"].removesuffix("ms"),
)
lines(
    ALL + ' |= "ALERT" | line_format "{{ __line__ | urlencode }}"',
    contains("ALERT"),
    lambda r: urllib.parse.quote_plus(r.body, safe="~"),
)
lines(
    '{device="pump-2"} | label_format x="{{.device}}~{{.host_name}} %7E" | line_format "{{ .x | urlencode }}"',
    lambda r: r.device == "pump-2",
    lambda r: urllib.parse.quote_plus(f"{r.device}~{r.host} %7E", safe="~"),
)


def loki_pattern(pattern: str) -> Callable[[Rec], bool]:
    """Return Loki's |> test: literals found in turn, captures not empty, the ending kept."""
    parts = re.split(r"(<_>)", pattern)
    elems = [p for p in parts if p]

    def test(r: Rec) -> bool:
        line = r.body
        if not line or not elems:
            return not line and not elems
        off = 0
        for i, e in enumerate(elems):
            if e == "<_>":
                continue
            j = line.find(e, off)
            if j < 0 or (i != 0 and j == off):
                return False
            off = j + len(e)
        return (elems[-1] == "<_>") == (off != len(line))

    return test


for pat in (
    "<_> cycle <_> Timeout after <_>",
    "pump-<_> cycle <_> s",
    "level=<_> device=pump-0 <_>",
    '{\\"status\\": 404<_>',
    "<_>api/v<_>",
    "<_>",
):
    lines(f'{ALL} |> "{pat}"', loki_pattern(pat.replace('\\"', '"')))
lines(f'{ALL} !> "<_>ALERT<_>"', lambda r: not loki_pattern("<_>ALERT<_>")(r))
lines(
    f'{ALL} |> "<_> s" or "<_>ok\\"" != "pump-1"',
    lambda r: (loki_pattern("<_> s")(r) or loki_pattern('<_>ok"')(r)) and "pump-1" not in r.body,
)
vector(
    f'sum by (device) (count_over_time({ALL} |> "<_> cycle <_>" {R}))',
    lambda recs: group([r for r in recs if loki_pattern("<_> cycle <_>")(r)], dev, len),
)
lines(
    '{device="pump-1"} | line_format "{{ Replace .service_name \\"a\\" \\"A\\" 1 }}|{{ Replace .service_name \\"a\\" \\"A\\" -1 }}"',
    lambda r: r.device == "pump-1",
    lambda r: r.service.replace("a", "A", 1) + "|" + r.service.replace("a", "A"),
)
lines(
    '{device="pump-1"} | line_format "{{ TrimPrefix .device \\"pump\\" }}{{ TrimLeft .host_name \\"ed\\" }}{{ TrimRight .service_name \\"ab-\\" }}{{ Trim .device \\"p1\\" }}"',
    lambda r: r.device == "pump-1",
    lambda r: (
        r.device.removeprefix("pump")
        + r.host.lstrip("ed")
        + r.service.rstrip("ab-")
        + r.device.strip("p1")
    ),
)
lines(
    '{device="pump-1"} | line_format "{{ repeat 3 .device }}|{{ .host_name | repeat 2 | ToUpper }}"',
    lambda r: r.device == "pump-1",
    lambda r: r.device * 3 + "|" + (r.host * 2).upper(),
)
lines(
    '{device="pump-1"} | line_format "{{ if eq .service_name \\"plant-a\\" }}A{{ else }}B{{ end }}:{{.host_name}}"',
    lambda r: r.device == "pump-1",
    lambda r: ("A" if r.service == "plant-a" else "B") + ":" + r.host,
)
lines(
    ALL + ' | line_format "{{ if .trace_id }}T {{ .trace_id }} {{ end }}{{ .device }}"',
    lambda r: True,
    lambda r: (f"T {r.trace_id} " if r.trace_id else "") + r.device,
)
lines(ALL + ' | line_format "{{ .detected_level }}"', lambda r: True, lambda r: r.level)
lines(
    ALL + ' | line_format "{{- .device -}}  |  {{- .host_name }} "',
    lambda r: True,
    lambda r: f"{r.device}|{r.host} ",
)
lines(
    ALL
    + ' | line_format "{{ if ne .detected_level \\"info\\" }}!{{ end }}{{ .detected_level | ToUpper }}"',
    lambda r: True,
    lambda r: ("!" if r.level != "info" else "") + r.level.upper(),
)
lines(
    ALL
    + ' | line_format "{{ if not .trace_id }}-{{ else }}{{ .trace_id | trimPrefix \\"0000\\" }}{{ end }}"',
    lambda r: True,
    lambda r: r.trace_id.removeprefix("0000") if r.trace_id else "-",
)


def go_time(ns: int) -> str:
    """Return Go's time.Time String() of a UTC time."""
    secs, frac = divmod(ns, NS)
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(secs))
    digits = f"{frac:09d}".rstrip("0")
    return f"{text}{'.' + digits if digits else ''} +0000 UTC"


lines(
    '{device="pump-1"} | line_format "{{ __timestamp__ }} {{.device}}"',
    lambda r: r.device == "pump-1",
    lambda r: f"{go_time(r.time_ns)} {r.device}",
)
lines(
    ALL + ' |= "cycle" | pattern "cycle <n> <_>" | line_format "[{{.n}}]"',
    contains("cycle"),
    lambda r: "[]",  # Loki anchors a leading literal at the line's start
)
lines(
    ALL + ' |= "cycle" | pattern "pump-<d> cycle <_>" | line_format "{{.d}}"',
    contains("cycle"),
    lambda r: r.device[5:],
)
lines(
    ALL
    + ' |= "cycle" | pattern "<dev> cycle <n> nothere <x>" | line_format "{{.dev}}|{{.n}}|{{.x}}"',
    contains("cycle"),
    lambda r: f"{r.device}|{r.body.split(' cycle ', 1)[1]}|",  # a missing literal: the rest
)
lines(
    ALL + ' | json | pattern "<_>\\"path\\": <p>, <_>" | line_format "{{.p}}"',
    lambda r: True,
    lambda r: f'"{r.json()["path"]}"' if r.kind == "json" else "",
)
ip_of = lambda r: r.extra.get("client.ip") if r.i % 5 == 4 else None  # noqa: E731
ip6_of = lambda r: r.extra.get("client.ip") if r.i % 5 == 2 else None  # noqa: E731
lines(
    ALL + ' | client_ip = ip("2001:db8::/120")',
    lambda r: ip6_of(r) is not None and r.i < 256,
)
lines(
    ALL + ' | client_ip = ip("2001:db8::10-2001:db8::30")',
    lambda r: ip6_of(r) is not None and 0x10 <= r.i <= 0x30,
)
lines(
    ALL + ' | client_ip != ip("2001:db8::/32")',
    lambda r: ip_of(r) is not None,
)
lines(
    ALL + ' | client_ip = ip("10.0.1.0/24")',
    lambda r: ip_of(r) is not None and r.i % 2 == 1,
)
lines(
    ALL + ' | client_ip = ip("10.0.0.10-10.0.0.50")',
    lambda r: ip_of(r) is not None and r.i % 2 == 0 and 10 <= r.i <= 50,
)
lines(
    ALL + ' | client_ip != ip("10.0.0.0/24")',
    lambda r: (ip_of(r) is not None and r.i % 2 == 1) or ip6_of(r) is not None,
)
lines(ALL + ' | client_ip = ip("10.0.1.19")', lambda r: r.i == 19)
lines(
    ALL + ' | client_ip = ip("10.0.0.0/16") or device="pump-1"',
    lambda r: ip_of(r) is not None or r.device == "pump-1",
)
vector(
    f'sum by (host_name) (count_over_time({ALL} | client_ip = ip("10.0.0.0/23") {R}))',
    lambda recs: group([r for r in recs if ip_of(r)], host, len),
)
lines(ALL + ' | json uid="user[\\"id\\"]" | uid="u2"', lambda r: r.json().get("user_id") == "u2")
lines(
    ALL + ' | json p="[\\"path\\"]", s="status" | p="/api/v0" | s >= 404',
    lambda r: r.json().get("path") == "/api/v0" and (js(r, "status") or 0) >= 404,
)

CASES.append(
    Case(
        f"approx_topk(2, sum by (device) (count_over_time({A}{R})))",
        "topk",
        lambda recs: (2, True, per_dev(recs, is_a)),
    )
)


def offset_recs(recs: Recs, rng_s: int, off_s: int) -> Recs:
    end = END_OFFSET[0] - off_s * NS
    return [r for r in recs if end - rng_s * NS < r.time_ns <= end]


vector(
    f"rate_counter({ALL} | json | unwrap latency_ms [10m] offset 5m) by (host_name)",
    lambda recs: counter_by(offset_recs(recs, 600, 300), host, lat, 600),
)
vector(
    f"quantile_over_time(0.9, {ALL} | json | unwrap latency_ms [10m] offset 5m) by (path)",
    lambda recs: by_key(offset_recs(recs, 600, 300), path, lat, quant(0.9)),
)
vector(
    f"last_over_time({ALL} | logfmt | unwrap temp [10m] offset 5m) by (device)",
    lambda recs: by_key(offset_recs(recs, 600, 300), dev, temp, last),
)

# --- vector(), label_replace, drop/keep with matchers ----------------------------------------
vector(f'sum(count_over_time({{service_name="nope"}}{R})) or vector(0)', lambda recs: {lab(): 0.0})
vector(f"sum(count_over_time({A}{R})) or vector(0)", lambda recs: {lab(): total(recs, is_a)})
vector(f"sum(count_over_time({B}{R})) + vector(1)", lambda recs: {lab(): total(recs, is_b) + 1})
vector(
    f'label_replace(sum by (device) (count_over_time({ALL}{R})), "pump", "$1", "device", "pump-(.*)")',
    lambda recs: {
        frozenset({**dict(k), "pump": dict(k)["device"][5:]}.items()): v
        for k, v in per_dev(recs, lambda r: True).items()
    },
)
vector(
    f'label_replace(count_over_time({{device="pump-1"}}{R}), "svc", "${{1}}x", "service_name", "plant-(a)")',
    lambda recs: {
        frozenset(
            {**dict(k), **({"svc": "ax"} if dict(k)["service_name"] == "plant-a" else {})}.items()
        ): v
        for k, v in group([r for r in recs if r.device == "pump-1"], stream, len).items()
    },
)
vector(
    f'label_replace(sum by (host_name) (count_over_time({ALL}{R})), "host_name", "", "host_name", "edge-1")',
    lambda recs: {
        (lab() if k == lab(host_name="edge-1") else k): v for k, v in group(recs, host, len).items()
    },
)
vector(
    f'sum by (pump) (label_replace(sum by (device) (count_over_time({ALL}{R})), "pump", "$1", "device", "pump-([01])"))',
    lambda recs: group(
        recs, lambda r: lab(pump=r.device[5:]) if r.device in ("pump-0", "pump-1") else lab(), len
    ),
)
lines(
    ALL + ' | drop device="pump-1" | line_format "{{.device}}"',
    lambda r: True,
    lambda r: "" if r.device == "pump-1" else r.device,
)
lines(
    ALL + ' | drop device=~"pump-[12]", trace_id | line_format "{{.device}}/{{.trace_id}}"',
    lambda r: True,
    lambda r: ("" if r.device in ("pump-1", "pump-2") else r.device) + "/",
)
lines(
    ALL
    + ' | keep device="pump-3", service_name | line_format "{{.device}}:{{.service_name}}:{{.host_name}}"',
    lambda r: True,
    lambda r: f"{r.device if r.device == 'pump-3' else ''}:{r.service}:",
)
lines(
    ALL + ' | keep device!="pump-0", device="pump-0" | line_format "{{.device}}{{.service_name}}"',
    lambda r: True,
    lambda r: r.device,
)


def last_per_stream_max(v: Recs) -> float:
    per: dict[Labels, float] = {}
    for r in v:
        if (x := lat(r)) is not None:
            per[stream(r)] = x
    return max(per.values())


MATRIX_MORE: list[tuple[str, int, Callable[[Rec], Labels | None], Callable[[Recs], float]]] = [
    (
        f"max by (device) (last_over_time({ALL} | json | unwrap latency_ms [1m]))",
        60,
        lambda r: dev(r) if r.kind == "json" else None,
        last_per_stream_max,
    ),
    (
        'first_over_time({device="pump-1"} | json | unwrap latency_ms [3m])',
        180,
        lambda r: stream(r) if r.device == "pump-1" else None,
        lambda v: lat(v[0]) or 0.0,
    ),
    (
        'last_over_time({device="pump-1"} | json | unwrap latency_ms [2m])',
        120,
        lambda r: stream(r) if r.device == "pump-1" else None,
        lambda v: lat(v[-1]) or 0.0,
    ),
    (
        f"quantile_over_time(0.5, {ALL} | json | unwrap latency_ms [1m]) by (service_name)",
        60,
        lambda r: lab(service_name=r.service) if r.kind == "json" else None,
        lambda v: quant(0.5)([lat(r) or 0.0 for r in v]),
    ),
    (
        'rate_counter({device="pump-1"} | json | unwrap latency_ms [1m])',
        60,
        lambda r: stream(r) if r.device == "pump-1" else None,
        lambda v: counter_rate([(r.time_ns, lat(r) or 0.0) for r in v], 60),
    ),
    (
        f"rate_counter({ALL} | json | unwrap latency_ms [1m]) by (host_name)",
        60,
        lambda r: host(r) if r.kind == "json" else None,
        lambda v: counter_rate([(r.time_ns, lat(r) or 0.0) for r in v], 60),
    ),
    (
        f"sum without (service_name) (rate({ALL}[1m]))",
        60,
        lambda r: host(r),
        lambda v: len(v) / 60,
    ),
    # ranges of several steps: the stats columns of the buckets merged
    (
        'rate_counter({device="pump-1"} | json | unwrap latency_ms [5m])',
        300,
        lambda r: stream(r) if r.device == "pump-1" else None,
        lambda v: counter_rate([(r.time_ns, lat(r) or 0.0) for r in v], 300),
    ),
    (
        f"sum(rate_counter({ALL} | json | unwrap latency_ms [4m]))",
        240,
        lambda r: lab() if r.kind == "json" else None,
        lambda v: math.fsum(
            counter_rate([(r.time_ns, lat(r) or 0.0) for r in v if stream(r) == s], 240)
            for s in {stream(r) for r in v}
        ),
    ),
    (
        f"quantile_over_time(0.9, {ALL} | json | unwrap latency_ms [3m]) by (service_name)",
        180,
        lambda r: lab(service_name=r.service) if r.kind == "json" else None,
        lambda v: quant(0.9)([lat(r) or 0.0 for r in v]),
    ),
    (
        f"sum by (host_name) (last_over_time({ALL} | json | unwrap latency_ms [2m]))",
        120,
        lambda r: host(r) if r.kind == "json" else None,
        lambda v: math.fsum({stream(r): lat(r) or 0.0 for r in v}.values()),
    ),
    (
        'last_over_time({device="pump-1"} | json | unwrap latency_ms [3m]) * 2',
        180,
        lambda r: stream(r) if r.device == "pump-1" else None,
        lambda v: 2 * (lat(v[-1]) or 0.0),
    ),
]
for q, rng, key, agg in MATRIX_MORE:
    CASES.append(Case(q, "matrix", lambda recs, key=key, agg=agg, rng=rng: (key, agg, rng)))


# --- running ---------------------------------------------------------------------------------
def get(env: LogqlEnv, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{env.api}/loki/api/v1/{path}", params=params, timeout=30)


def labels_of(metric: dict[str, str]) -> Labels:
    return frozenset(metric.items())


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("case", CASES, ids=[c.query for c in CASES])
def test_corpus(logql_env: LogqlEnv, case: Case) -> None:
    env = logql_env
    recs = env.records
    END_OFFSET[0] = env.end_ns
    if case.kind in ("lines", "labels"):
        resp = get(env, "query_range", query=case.query, start=env.start_ns, end=env.end_ns,
                   limit=1000, direction="forward")  # fmt: skip
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert data["resultType"] == "streams"
        entries = sorted(
            (int(ts), line, s["stream"]) for s in data["result"] for ts, line in s["values"]
        )
        if case.kind == "lines":
            assert [e[1] for e in entries] == case.expected(recs)
            return
        mode, names = case.expected(recs)
        assert entries
        for _ts, _line, labels in entries:
            if mode == "absent":
                assert not names & set(labels), labels
            elif mode == "exactly":
                assert set(labels) == names, labels
            else:
                assert set(labels) <= names, labels
        return
    if case.kind == "matrix":
        key, agg, rng = case.expected(recs)
        step = 60
        resp = get(env, "query_range", query=case.query, start=env.start_ns, end=env.end_ns,
                   step=f"{step}s")  # fmt: skip
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        assert data["resultType"] == "matrix"
        got = {
            labels_of(s["metric"]): {round(float(t) * NS): float(v) for t, v in s["values"]}
            for s in data["result"]
        }
        want: dict[Labels, dict[int, float]] = defaultdict(dict)
        for t in range(env.start_ns, env.end_ns + 1, step * NS):
            buckets: dict[Labels, list[Rec]] = defaultdict(list)
            for r in recs:
                k = key(r)
                if k is not None and t - rng * NS < r.time_ns <= t:
                    buckets[k].append(r)
            for k, v in buckets.items():
                want[k][t] = float(agg(v))
        assert set(got) == set(want)
        for k in want:
            assert set(got[k]) == set(want[k]), k
            for t, v in want[k].items():
                assert close(got[k][t], v), (k, t, got[k][t], v)
        return
    resp = get(env, "query", query=case.query, time=env.end_ns)
    assert resp.status_code == 200, resp.text
    data = resp.json()["data"]
    assert data["resultType"] == "vector"
    got_list = [(labels_of(s["metric"]), float(s["value"][1])) for s in data["result"]]
    for s in data["result"]:
        assert s["value"][0] == env.end_ns / NS
    got = dict(got_list)
    if case.kind == "topk":
        k, top, values = case.expected(recs)
        ranked = sorted(values.values(), reverse=top)[:k]
        assert sorted((v for _l, v in got_list), reverse=top) == ranked
        for labels, v in got_list:
            assert values[labels] == v
        return
    if case.kind == "sorted":
        desc, values = case.expected(recs)
        assert got == values
        seq = [v for _l, v in got_list]
        assert seq == sorted(seq, reverse=desc)
        return
    want = case.expected(recs)
    assert set(got) == set(want), (got, want)
    for labels, v in want.items():
        assert close(got[labels], v), (labels, got[labels], v)


def test_corpus_size() -> None:
    assert len(CASES) >= 150


# --- records exactly on the step grid: Loki's windows (t - step, t] --------------------------
BOUNDARY = '{service_name="boundary"}'


@pytest.fixture(scope="module")
def boundary(logql_env: LogqlEnv) -> tuple[LogqlEnv, Recs, int]:
    """Send records on, between and just before step boundaries, before the main records."""
    env = logql_env
    first = env.base_s - 600
    recs = [
        Rec(
            1000 + 3 * k + j,
            (first + 60 * k) * NS + extra,
            "boundary",
            "edge-9",
            "pump-9",
            "TRACE",
            f"n={k * 3 + j} tick",
        )
        for k in range(6)
        for j, extra in enumerate((0, 30 * NS, 60 * NS - 1))
    ]
    send_otlp(env.vl, recs)
    deadline = time.monotonic() + 30
    while True:
        resp = get(env, "query_range", query=BOUNDARY, start=(first - 60) * NS,
                   end=env.start_ns, limit=1000)  # fmt: skip
        if resp.status_code == 200 and sum(
            len(s["values"]) for s in resp.json()["data"]["result"]
        ) == len(recs):
            return env, recs, first
        assert time.monotonic() < deadline, "VictoriaLogs did not show the boundary records"
        time.sleep(0.1)


def n_of(r: Rec) -> float:
    return float(r.body.split()[0][2:])


BOUNDARY_CASES: list[tuple[str, int, Callable[[Rec], Labels], Callable[[Recs], float]]] = [
    (f"count_over_time({BOUNDARY}[1m])", 60, stream, len),
    (f"sum(count_over_time({BOUNDARY}[2m]))", 120, lambda r: lab(), len),
    (
        f"max_over_time({BOUNDARY} | logfmt | unwrap n [1m])",
        60,
        stream,
        lambda v: max(n_of(r) for r in v),
    ),
    (
        f"quantile_over_time(0.5, {BOUNDARY} | logfmt | unwrap n [1m])",
        60,
        stream,
        lambda v: quant(0.5)([n_of(r) for r in v]),
    ),
    (
        f"rate_counter({BOUNDARY} | logfmt | unwrap n [1m])",
        60,
        stream,
        lambda v: counter_rate([(r.time_ns, n_of(r)) for r in v], 60),
    ),
    (
        f"last_over_time({BOUNDARY} | logfmt | unwrap n [3m])",
        180,
        stream,
        lambda v: n_of(v[-1]),
    ),
]


@pytest.mark.parametrize("case", BOUNDARY_CASES, ids=[c[0] for c in BOUNDARY_CASES])
def test_windows_end_on_the_step(
    boundary: tuple[LogqlEnv, Recs, int],
    case: tuple[str, int, Callable[[Rec], Labels], Callable[[Recs], float]],
) -> None:
    env, recs, first = boundary
    query, rng, key, agg = case
    start, end, step = (first - 60) * NS, (first + 420) * NS, 60 * NS
    resp = get(env, "query_range", query=query, start=start, end=end, step="60s")
    assert resp.status_code == 200, resp.text
    got = {
        labels_of(s["metric"]): {round(float(t) * NS): float(v) for t, v in s["values"]}
        for s in resp.json()["data"]["result"]
    }
    want: dict[Labels, dict[int, float]] = defaultdict(dict)
    for t in range(start, end + 1, step):
        buckets: dict[Labels, list[Rec]] = defaultdict(list)
        for r in recs:
            if t - rng * NS < r.time_ns <= t:
                buckets[key(r)].append(r)
        for k, v in buckets.items():
            want[k][t] = float(agg(v))
    assert got.keys() == want.keys()
    for k in want:
        assert got[k].keys() == want[k].keys(), k
        for t, v in want[k].items():
            assert close(got[k][t], v), (k, t, got[k][t], v)
