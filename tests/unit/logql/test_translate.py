"""The LogQL parser and translator, on their own: what LogsQL each construct becomes."""

from __future__ import annotations

import pytest

from sentio.errors import LogQLParseError, LogQLTranslationError
from sentio.logql import ast
from sentio.logql.labels import Resolver, loki_name, normalize_level, parse_stream, stream_labels
from sentio.logql.params import ParamError, parse_step, parse_time, range_params
from sentio.logql.parser import parse, parse_duration, unquote
from sentio.logql.translate import (
    AbsentPlan,
    AggPlan,
    BinaryPlan,
    LabelReplacePlan,
    LogsPlan,
    ScalarPlan,
    StatsPlan,
    VectorPlan,
    re2_escape,
    translate,
)

R = Resolver(["service.name", "device", "probe.sample", "severity_text", "trace_id"])


def logsql(query: str) -> str:
    plan = translate(parse(query), R)
    assert isinstance(plan, LogsPlan), plan
    return plan.query


def stats(query: str) -> StatsPlan:
    plan = translate(parse(query), R)
    assert isinstance(plan, StatsPlan), plan
    return plan


@pytest.mark.parametrize(
    ("logql", "expected"),
    [
        ('{service_name="a"}', '"service.name":="a"'),
        ('{service_name!="a"}', '-"service.name":="a"'),
        ('{device=~"p.*"}', '"device":~"^(?:p.*)$"'),
        ('{device!~"p.*"}', '-"device":~"^(?:p.*)$"'),
        ('{probe_sample="3"}', '"probe.sample":="3"'),
        ('{detected_level="warn"}', 'severity_text:~"(?i)^(?:warn|warning)$"'),
        ('{level="error"}', 'severity_text:~"(?i)^(?:error)$"'),
        ('{device="a"} |= "x.y"', '"device":="a" _msg:~"x\\\\.y"'),
        ('{device="a"} != "x"', '"device":="a" -_msg:~"x"'),
        ('{device="a"} |~ "(?i)err"', '"device":="a" _msg:~"(?i)err"'),
        ('{device="a"} !~ "e+"', '"device":="a" -_msg:~"e+"'),
        ('{device="a"} |= "x" or "y"', '"device":="a" (_msg:~"x" or _msg:~"y")'),
        ('{device="a"} |= ""', '"device":="a"'),
        ('{device="a"} | json', '"device":="a" | unpack_json'),
        ('{device="a"} | logfmt', '"device":="a" | unpack_logfmt'),
        (
            '{device="a"} | json s="x.y"',
            '"device":="a" | unpack_json fields ("x.y") | rename "x.y" as "s"',
        ),
        ('{device="a"} | regexp "(?P<n>\\\\d+)"', '"device":="a" | extract_regexp "(?P<n>\\\\d+)"'),
        (
            '{device="a"} | pattern "<a> <_>"',
            '"device":="a" | extract if (_msg:~"(?s:.*) ") "<plain:a> <_>"'
            ' | extract if (-_msg:~"(?s:.*) ") "<plain:a>"',
        ),
        (
            '{device="a"} | pattern "x<a>y"',
            '"device":="a" | extract if (_msg:~"^x(?s:.*)y") "x<plain:a>y"'
            ' | extract if (_msg:~"^x" -_msg:~"^x(?s:.*)y") "x<plain:a>"',
        ),
        ('{device="a"} | json | n > 5', '"device":="a" | unpack_json | filter "n":>5'),
        ('{device="a"} | n == 5', '"device":="a" "n":range[5, 5]'),
        ('{device="a"} | d >= 1.5s', '"device":="a" "d":>=1.5s'),
        ('{device="a"} | b < 10KB', '"device":="a" "b":<10KB'),
        ('{device="a"} | x="1" or y="2"', '"device":="a" ("x":="1" or "y":="2")'),
        ('{device="a"} | x="1", y!="2"', '"device":="a" ("x":="1" and -"y":="2")'),
        ('{device="a"} | __error__=""', '"device":="a"'),
        ('{device="a"} | line_format "{{.device}}!"', '"device":="a" | format "<device>!" as _msg'),
        ('{device="a"} | label_format x=device', '"device":="a" | rename "device" as "x"'),
        (
            '{device="a"} | label_format x="{{ .device }}"',
            '"device":="a" | format "<device>" as "x"',
        ),
        ('{device="a"} | drop trace_id', '"device":="a" | delete "trace_id"'),
        ('{device="a"} | keep device', '"device":="a" | fields _time, _msg, _stream, "device"'),
        ('{device="a"} | decolorize', '"device":="a" | decolorize'),
        (
            '{device="a"} | json | line_format "{{.m}}" |= "z"',
            '"device":="a" | unpack_json | format "<m>" as _msg | filter _msg:~"z"',
        ),
    ],
)
def test_log_queries_translate_to_logsql(logql: str, expected: str) -> None:
    assert logsql(logql) == expected


def test_metric_queries_become_stats() -> None:
    p = stats('count_over_time({device="a"}[5m])')
    assert p.query == '"device":="a" | stats by (_stream) count() as logql_value'
    assert p.range_ns == 300 * 10**9
    assert stats('sum by (device) (rate({device="a"}[1m]))').query == (
        '"device":="a" | stats by ("device") count() as logql_value'
        " | math logql_value / 60 as logql_value"
    )
    assert "sum_len(_msg)" in stats('sum(bytes_over_time({device="a"}[1m]))').query
    assert stats('sum(bytes_rate({device="a"}[10s]))').query.endswith("/ 10 as logql_value")
    q = stats('quantile_over_time(1, {device="a"} | unwrap n [1m]) by (device)').query
    assert q.endswith('stats by ("device") max("n") as logql_value')
    q = stats('quantile_over_time(0, {device="a"} | unwrap n [1m]) by (device)').query
    assert q.endswith('stats by ("device") min("n") as logql_value')
    q = stats('avg_over_time({device="a"} | unwrap duration(d) [1m]) by (device)').query
    assert 'math "d" / 1000000000 as "d"' in q
    q = stats('max by (device) (count_over_time({device="a"}[1m]))').query
    assert 'stats by (_stream, "device") count()' in q
    assert q.endswith('stats by ("device") max(logql_value) as logql_value')
    q = stats('topk(2, sum by (device) (count_over_time({device="a"}[1m])))').query
    assert q.endswith("first 2 by (logql_value desc)")
    q = stats('bottomk(1, sum by (device) (count_over_time({device="a"}[1m])))').query
    assert q.endswith("first 1 by (logql_value)")
    assert stats('sort_desc(sum by (device) (count_over_time({device="a"}[1m])))').query.endswith(
        "sort by (logql_value desc)"
    )
    q = stats('sum by (detected_level) (count_over_time({device="a"}[1m]))').query
    assert 'format "<lc:severity_text>" as detected_level' in q


def test_scalar_operators_become_math_and_filters() -> None:
    assert stats('sum(count_over_time({device="a"}[1m])) * 2').query.endswith(
        "math logql_value * 2 as logql_value"
    )
    assert stats('10 - sum(count_over_time({device="a"}[1m]))').query.endswith(
        "math 10 - logql_value as logql_value"
    )
    assert stats('sum(count_over_time({device="a"}[1m])) > 3').query.endswith(
        "filter logql_value:>3"
    )
    assert stats('3 < sum(count_over_time({device="a"}[1m]))').query.endswith(
        "filter logql_value:>3"
    )
    assert translate(parse("2 * 3 + 1"), R) == ScalarPlan(7.0)


def test_binary_between_metric_queries_and_absent() -> None:
    plan = translate(
        parse('sum(count_over_time({device="a"}[1m])) / sum(count_over_time({device="b"}[1m]))'),
        R,
    )
    assert isinstance(plan, BinaryPlan) and plan.op == "/"
    plan = translate(parse('absent_over_time({device="zz"}[1m])'), R)
    assert isinstance(plan, AbsentPlan) and plan.labels == {"device": "zz"}


@pytest.mark.parametrize(
    ("logql", "construct"),
    [
        ('{device="a"} |= ip("1.2.3.4")', "ip() line filter"),
        ('{device="a"} | addr = ip("::ffff:1.2.3.4")', 'addr=ip("::ffff:1.2.3.4")'),
        ('{device="a"} | addr = ip("::/0")', 'addr=ip("::/0")'),
        ('{device="a"} | line_format "{{ .x | title }}"', "line_format {{ .x | title }}"),
        (
            '{device="a"} | line_format "{{ Replace .x \\"\\" \\"b\\" -1 }}"',
            'line_format {{ Replace .x "" "b" -1 }}',
        ),
        ('{device="a"} | logfmt --strict', "logfmt --strict"),
        ('sum_over_time({device="a"}[1m])', "sum_over_time()"),
        ('rate_counter({device="a"}[1m])', "rate_counter()"),
        ('{device="a"} | json x="a[0]"', 'json x="a[0]"'),
        ('{device="a"} | json x="a[\\"b.c\\"]"', 'json x="a[\\"b.c\\"]"'),
        ('{device="a"} | __error__!=""', '__error__ != ""'),
        ('{device="a"} | distinct device', "distinct"),
        (
            '{device="a"} | line_format "{{ regexReplaceAll \\"x*\\" .m \\"y\\" }}"',
            'regexReplaceAll "x*"',
        ),
        ('{device="a"} | line_format "{{ .m | urldecode }}"', "line_format {{ .m | urldecode }}"),
        ('{device="a"} | line_format "{{ trunc 3 .m }}"', "line_format {{ trunc 3 .m }}"),
        (
            '{device="a"} | line_format "{{ if .a }}{{ if .b }}x{{ end }}{{ end }}"',
            "line_format {{ if .b }}",
        ),
        (
            '{device="a"} | line_format "{{ if .a }}x{{ else if .b }}y{{ end }}"',
            "line_format {{ else if .b }}",
        ),
        ('{device="a"} | line_format "{{ if gt .a 1 }}x{{ end }}"', "line_format {{ if gt .a 1 }}"),
        ('{device="a"} | line_format "{{ range .a }}x{{ end }}"', "line_format {{ range .a }}"),
        (
            '{device="a"} | line_format "{{ .m | TrimPrefix \\"x\\" }}"',
            'line_format {{ .m | TrimPrefix "x" }}',
        ),
        (
            'label_replace(count_over_time({device="a"}[1m]), "a", "b", "c", "\\\\pL")',
            'label_replace regex "\\\\pL"',
        ),
        ('absent(count_over_time({device="a"}[1m]))', "absent()"),
    ],
)
def test_untranslatable_constructs_are_named(logql: str, construct: str) -> None:
    with pytest.raises(LogQLTranslationError) as info:
        translate(parse(logql), R)
    assert info.value.construct == construct
    assert construct in str(info.value)


@pytest.mark.parametrize(
    "text",
    ['{device="a"', '{device>"a"}', 'rate({a="b"})', "", '{a="b"} | json | x > "y"', "sum("],
)
def test_parse_errors_name_the_position(text: str) -> None:
    with pytest.raises(LogQLParseError, match="parse error"):
        parse(text)

    q = parse('sum by (device) (count_over_time({a="b"} | json [5m] offset 1h))')
    assert isinstance(q, ast.VectorAgg)
    inner = q.inner
    assert isinstance(inner, ast.RangeAgg) and inner.offset_ns == 3600 * 10**9
    assert parse('{a="b"}[1m]') if False else True
    q2 = parse('count_over_time({a="b"}[1m] | json)')
    assert isinstance(q2, ast.RangeAgg) and isinstance(q2.query.stages[0], ast.Parser)
    q3 = parse('{org="x"} | org="y"')  # a keyword prefix is still a label name
    assert isinstance(q3, ast.LogQuery) and q3.matchers[0].name == "org"
    assert parse_duration("1h30m") == 5400 * 10**9
    assert parse_duration("250ms") == 250 * 10**6
    assert unquote('"a\\"b\\\\n"') == 'a"b\\n'
    assert unquote("`\\d+`") == "\\d+"
    assert re2_escape("a.b*c") == "a\\.b\\*c"


def test_labels_follow_loki_conventions() -> None:
    assert loki_name("service.name") == "service_name"
    assert normalize_level("WARNING") == "warn"
    assert normalize_level("ERROR") == "error"
    assert normalize_level("Info2") == "info"
    assert parse_stream('{host.name="h",service.name="s \\"q\\""}') == {
        "host.name": "h",
        "service.name": 's "q"',
    }
    labels = stream_labels(
        {"_msg": "m", "_time": "t", "_stream": "{}", "service.name": "s", "severity_text": "WARN"}
    )
    assert labels == {"service_name": "s", "severity_text": "WARN", "detected_level": "warn"}


def test_params() -> None:
    assert parse_time("1700000000", "start") == 1_700_000_000 * 10**9
    assert parse_time("1700000000123", "start") == 1_700_000_000_123 * 10**6
    assert parse_time("1700000000000000001", "start") == 1_700_000_000_000_000_001
    assert parse_time("1700000000.5", "start") == 1_700_000_000_500_000_000
    assert parse_time("2023-11-14T22:13:20.000000001Z", "start") == 1_700_000_000_000_000_001
    assert parse_step("15s") == 15 * 10**9
    assert parse_step("0.5") == 5 * 10**8
    with pytest.raises(ParamError, match="direction"):
        range_params({"query": "x", "direction": "up"})
    with pytest.raises(ParamError, match="limit"):
        range_params({"query": "x", "limit": "-1"})
    with pytest.raises(ParamError, match="query"):
        range_params({})


@pytest.mark.parametrize(
    ("logql", "expected"),
    [
        (
            '{device="a"} | line_format "{{ .device | ToUpper }}"',
            '"device":="a" | format "<uc:device>" as _msg',
        ),
        (
            '{device="a"} | line_format "{{ lower .service_name }}"',
            '"device":="a" | format "<lc:service.name>" as _msg',
        ),
        (
            '{device="a"} | line_format "{{ .m | trim | upper }}"',
            '"device":="a" | format "<m>" as logql_tmp1'
            ' | replace_regexp ("^[\\\\t\\\\n\\\\v\\\\f\\\\r \\\\x{85}\\\\p{Z}]+|'
            '[\\\\t\\\\n\\\\v\\\\f\\\\r \\\\x{85}\\\\p{Z}]+$", "") at logql_tmp1'
            ' | format "<uc:logql_tmp1>" as _msg | delete logql_tmp1',
        ),
        (
            '{device="a"} | label_format x="{{ default \\"-\\" .m }}"',
            '"device":="a" | format "<m>" as logql_tmp1'
            ' | format if (logql_tmp1:"") "-" as logql_tmp1 | format "<logql_tmp1>" as "x"'
            " | delete logql_tmp1",
        ),
        (
            '{device="a"} | line_format "{{ replace \\"a\\" \\"b\\" .m }}"',
            '"device":="a" | format "<m>" as logql_tmp1 | replace ("a", "b") at logql_tmp1'
            ' | format "<logql_tmp1>" as _msg | delete logql_tmp1',
        ),
        (
            '{device="a"} | addr = ip("10.0.0.0/8")',
            '"device":="a" "addr":ipv4_range("10.0.0.0", "10.255.255.255")',
        ),
        (
            '{device="a"} | addr = ip("2001:db8::/32")',
            '"device":="a" "addr":ipv6_range("2001:db8::",'
            ' "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")',
        ),
        (
            '{device="a"} | addr != ip("10.0.0.1-10.0.0.9")',
            '"device":="a" ("addr":* -"addr":ipv4_range("10.0.0.1", "10.0.0.9"))',
        ),
        ('{device="a"} | addr = ip("10.1.2.3")', '"device":="a" "addr":ipv4_range("10.1.2.3")'),
        (
            '{device="a"} | json ua="req.headers[\\"User-Agent\\"]"',
            '"device":="a" | unpack_json fields ("req.headers.User-Agent")'
            ' | rename "req.headers.User-Agent" as "ua"',
        ),
        (
            '{device="a"} | json p="[\\"path\\"]"',
            '"device":="a" | unpack_json fields ("path") | rename "path" as "p"',
        ),
    ],
)
def test_functions_ip_and_json_paths(logql: str, expected: str) -> None:
    assert logsql(logql) == expected


def test_first_last_over_time_take_the_earliest_and_latest_sample() -> None:
    q = stats('first_over_time({device="a"} | unwrap n [1m]) by (device)')
    assert 'stats by ("device") field_min(_time, "n") as logql_value' in q.query
    assert q.combine == "first"
    q = stats('last_over_time({device="a"} | unwrap n [1m])')
    assert 'field_max(_time, "n")' in q.query and q.combine == "last"


def test_quantile_between_ranks_fetches_the_values() -> None:
    q = stats('quantile_over_time(0.9, {device="a"} | unwrap n [1m]) by (device)')
    assert q.reduce == "quantile" and q.param == 0.9
    assert q.query.endswith('stats by ("device") values("n") as logql_values')
    plan = translate(parse('sum(quantile_over_time(0.5, {device="a"} | unwrap n [1m]))'), R)
    assert isinstance(plan, AggPlan) and plan.op == "sum"
    plan = translate(parse('quantile_over_time(0.5, {device="a"} | unwrap n [1m]) > 3'), R)
    assert isinstance(plan, BinaryPlan) and isinstance(plan.right, ScalarPlan)


def test_rate_counter_counts_resets_in_logsql() -> None:
    q = stats('rate_counter({device="a"} | unwrap n [1m])')
    assert q.reduce == "rate_counter"
    assert 'running_stats by (_stream) last("n") offset 1 as logql_prev' in q.query
    assert "sum(logql_reset) as logql_resets" in q.query


def test_without_over_streams_bool_and_vector_matching() -> None:
    plan = translate(parse('sum without (host_name) (count_over_time({device="a"}[1m]))'), R)
    assert isinstance(plan, AggPlan) and plan.without and plan.labels == ("host_name",)
    plan = translate(parse('count_over_time({device="a"}[1m]) > bool 2'), R)
    assert isinstance(plan, BinaryPlan) and plan.bool_modifier
    assert translate(parse("2 > bool 1"), R) == ScalarPlan(1.0)
    plan = translate(
        parse(
            'sum by (a, b) (count_over_time({device="a"}[1m])) / ignoring (b) group_left (c)'
            ' sum by (a) (count_over_time({device="a"}[1m]))'
        ),
        R,
    )
    assert isinstance(plan, BinaryPlan)
    assert (plan.on, plan.ignoring, plan.group, plan.include) == (("b",), True, "left", ("c",))


def test_vector_label_replace_and_drop_keep_matchers() -> None:
    plan = translate(parse('sum(count_over_time({device="a"}[1m])) or vector(0)'), R)
    assert isinstance(plan, BinaryPlan) and plan.right == VectorPlan(0.0)
    plan = translate(
        parse('label_replace(count_over_time({device="a"}[1m]), "d", "$1", "device", "(.*)")'), R
    )
    assert isinstance(plan, LabelReplacePlan) and plan.regex.fullmatch("abc")
    assert logsql('{device="a"} | drop device="x", trace_id') == (
        '"device":="a" | format if ("device":="x") "" as "device" | delete "trace_id"'
    )
    assert logsql('{device="a"} | keep device=~"x|y", trace_id') == (
        '"device":="a" | format if (!("device":~"^(?:x|y)$")) "" as "device"'
        ' | fields _time, _msg, _stream, "trace_id", "device"'
    )
    with pytest.raises(LogQLParseError):
        parse('label_replace(count_over_time({device="a"}[1m]), "1x", "", "a", "")')


def test_approx_topk_is_topk() -> None:
    q = stats('approx_topk(2, sum by (device) (count_over_time({device="a"}[1m])))')
    assert q.query.endswith("| first 2 by (logql_value desc)")


def test_pattern_line_filter_splits_as_loki_tests() -> None:
    assert logsql('{device="a"} |> "<_> x <_>"') == (
        '"device":="a" | extract "<plain:logql_m0_0_0> x <plain:logql_m0_0_1>"'
        ' | filter _msg:~"(?s) x " logql_m0_0_0:* logql_m0_0_1:*'
        " | delete logql_m0_0_0, logql_m0_0_1"
    )
    assert logsql('{device="a"} !> "a<b"') == (
        '"device":="a" | extract "<plain:logql_m0_0_0>a&lt;b<plain:logql_m0_0_1>"'
        ' | filter !(_msg:~"(?s)a<b" logql_m0_0_1:"") | delete logql_m0_0_0, logql_m0_0_1'
    )
    with pytest.raises(LogQLParseError):
        parse('{device="a"} |> "<x> y"')
    with pytest.raises(LogQLParseError):
        parse('{device="a"} |> "<_><_> y"')


def test_template_if_and_trim_markers() -> None:
    assert logsql(
        '{device="a"} | line_format "{{ if eq .device \\"x\\" }}X{{ else }}-{{ end }}"'
    ) == (
        '"device":="a" | format "-" as logql_tmp1 | format if ("device":="x") "X" as logql_tmp1'
        ' | format "<logql_tmp1>" as _msg | delete logql_tmp1'
    )
    assert logsql('{device="a"} | line_format "a  {{- .device -}}  b"') == (
        '"device":="a" | format "a<device>b" as _msg'
    )
    assert logsql('{device="a"} | line_format "{{ .level }}"') == (
        '"device":="a" | format "<lc:severity_text>" as logql_tmp1'
        ' | replace ("warning", "warn") at logql_tmp1 | format "<logql_tmp1>" as _msg'
        " | delete logql_tmp1"
    )
