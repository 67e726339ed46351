"""Which LogQL constructs the translator takes: one example query each, parsed and translated."""

from __future__ import annotations

from dataclasses import dataclass

from sentio.errors import LogQLError
from sentio.logql.parser import parse
from sentio.logql.translate import translate

S = '{service_name="sentio"}'
U = f"{S} | json | unwrap latency_ms [5m]"

# (construct, an example a Grafana user writes); the list first, then what Loki users
# also reach for
CONSTRUCTS: tuple[tuple[str, str], ...] = (
    ("stream selector =", S),
    ("stream selector !=", '{service_name!="x"}'),
    ("stream selector =~", '{service_name=~"sen.*"}'),
    ("stream selector !~", '{service_name!~"x.*"}'),
    ("line filter |=", f'{S} |= "timeout"'),
    ("line filter !=", f'{S} != "timeout"'),
    ("line filter |~", f'{S} |~ "time(out)?"'),
    ("line filter !~", f'{S} !~ "time(out)?"'),
    ("chained line filters", f'{S} |= "a" != "b" |~ "c"'),
    ("case-insensitive regex", f'{S} |~ "(?i)timeout"'),
    ("json", f"{S} | json"),
    ("logfmt", f"{S} | logfmt"),
    ("regexp", f'{S} | regexp "(?P<code>\\\\d+)"'),
    ("pattern", f'{S} | pattern "<ip> - <_>"'),
    ("unpack", f"{S} | unpack"),
    ("label filter string", f'{S} | json | device="pump-1"'),
    ("label filter numeric", f"{S} | json | latency_ms > 250"),
    ("label filter duration", f"{S} | logfmt | took > 2s"),
    ("label filter bytes", f"{S} | logfmt | size > 1MB"),
    ("label filter and/or", f'{S} | json | latency_ms > 250 or device="pump-1"'),
    ("line_format", f'{S} | json | line_format "{{{{.device}}}}: {{{{.msg}}}}"'),
    ("label_format", f'{S} | label_format dev="{{{{.device}}}}"'),
    ("drop", f"{S} | drop device"),
    ("keep", f"{S} | keep device"),
    ("decolorize", f"{S} | decolorize"),
    ("count_over_time", f"count_over_time({S}[5m])"),
    ("rate", f"rate({S}[5m])"),
    ("bytes_over_time", f"bytes_over_time({S}[5m])"),
    ("bytes_rate", f"bytes_rate({S}[5m])"),
    ("absent_over_time", f"absent_over_time({S}[5m])"),
    ("sum_over_time", f"sum_over_time({U})"),
    ("avg_over_time", f"avg_over_time({U})"),
    ("min_over_time", f"min_over_time({U})"),
    ("max_over_time", f"max_over_time({U})"),
    ("first_over_time", f"first_over_time({U})"),
    ("last_over_time", f"last_over_time({U})"),
    ("stddev_over_time", f"stddev_over_time({U})"),
    ("quantile_over_time", f"quantile_over_time(0.95, {U})"),
    ("rate_counter", f"rate_counter({U})"),
    ("sum by", f"sum by (device) (rate({S}[5m]))"),
    ("avg without", f"avg without (device) (rate({S}[5m]))"),
    ("min", f"min(rate({S}[5m]))"),
    ("max", f"max(rate({S}[5m]))"),
    ("count", f"count(rate({S}[5m]))"),
    ("topk", f"topk(3, sum by (device) (rate({S}[5m])))"),
    ("bottomk", f"bottomk(3, sum by (device) (rate({S}[5m])))"),
    ("sort", f"sort(sum by (device) (rate({S}[5m])))"),
    ("sort_desc", f"sort_desc(sum by (device) (rate({S}[5m])))"),
    ("binary op with scalar", f"rate({S}[5m]) * 60"),
    ("binary op between queries", f'sum(rate({S} |= "error" [5m])) / sum(rate({S}[5m]))'),
    ("comparison bool", f"sum(rate({S}[5m])) > bool 1"),
    (
        "on / ignoring",
        f"sum by (device) (rate({S}[5m])) / ignoring (x) sum by (device) (rate({S}[5m]))",
    ),
    (
        "group_left",
        f"sum by (device, level) (rate({S}[5m])) / on (device) group_left "
        f"sum by (device) (rate({S}[5m]))",
    ),
    ("vector()", f"sum(rate({S}[5m])) or vector(0)"),
    ("label_replace", f'label_replace(rate({S}[5m]), "d", "$1", "device", "(.*)")'),
    ("offset", f"rate({S}[5m] offset 1h)"),
    ("ip() label filter", f'{S} | logfmt | addr = ip("10.0.0.0/8")'),
    ("ip() line filter", f'{S} |= ip("10.0.0.0/8")'),
    ("|> pattern line filter", f'{S} |> "<_> error <_>"'),
    ("json [..] path", f'{S} | json code="resp[\\"code\\"]"'),
    ("distinct", f"{S} | logfmt | distinct device"),
    ("logfmt --strict", f"{S} | logfmt --strict"),
    ('__error__!=""', f'{S} | json | __error__!=""'),
)


@dataclass(frozen=True)
class Coverage:
    """The constructs that translate, and each refused one with the error it gets."""

    supported: list[str]
    refused: dict[str, str]


def coverage() -> Coverage:
    """Parse and translate each construct's example; sort them into supported and refused."""
    supported: list[str] = []
    refused: dict[str, str] = {}
    for construct, query in CONSTRUCTS:
        try:
            translate(parse(query))
        except LogQLError as exc:
            refused[construct] = str(exc)
        else:
            supported.append(construct)
    return Coverage(supported, refused)
