"""The coverage table: each construct the Loki API promises translates; the rest are named."""

from __future__ import annotations

from sentio.logql.coverage import CONSTRUCTS, coverage

# the constructs the Loki API is built to take (docs/logql.md)
PROMISED = {
    "stream selector =", "stream selector !=", "stream selector =~", "stream selector !~",
    "line filter |=", "line filter !=", "line filter |~", "line filter !~",
    "chained line filters", "case-insensitive regex", "json", "logfmt", "regexp", "pattern",
    "unpack", "label filter string", "label filter numeric", "label filter duration",
    "label filter bytes", "label filter and/or", "line_format", "label_format", "drop", "keep",
    "decolorize", "count_over_time", "rate", "bytes_over_time", "bytes_rate", "absent_over_time",
    "sum_over_time", "avg_over_time", "min_over_time", "max_over_time", "first_over_time",
    "last_over_time", "stddev_over_time", "quantile_over_time", "rate_counter", "sum by",
    "avg without", "min", "max", "count", "topk", "bottomk", "sort", "sort_desc",
    "binary op with scalar", "binary op between queries",
}  # fmt: skip


def test_every_promised_construct_translates() -> None:
    covered = coverage()
    assert set(covered.supported) >= PROMISED
    assert set(covered.supported) | set(covered.refused) == {c for c, _ in CONSTRUCTS}


def test_each_refused_construct_gets_an_error_naming_it() -> None:
    refused = coverage().refused
    assert set(refused) == {"ip() line filter", "distinct", "logfmt --strict", '__error__!=""'}
    assert refused["distinct"].startswith("unsupported LogQL: distinct:")
    assert "--strict" in refused["logfmt --strict"]
