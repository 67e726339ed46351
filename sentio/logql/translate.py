"""Translate parsed LogQL into LogsQL plans for VictoriaLogs; refuse what has no faithful form.

A log query becomes one LogsQL query (filters, then pipes). A metric query becomes a
``StatsPlan``: one LogsQL query ending in ``stats`` (and ``math`` / ``filter`` / ``first`` /
``sort`` pipes after it) that VictoriaLogs' ``stats_query_range`` or ``stats_query`` answers.
Binary operators between two metric queries become a ``BinaryPlan`` whose sides are answered
separately and joined by label set; ``absent_over_time`` an ``AbsentPlan``; an aggregation
over series that are no one stats query's rows an ``AggPlan``. Go templates are in
``sentio.logql.templates``, JSON paths, ``|>`` patterns and ``ip()`` in ``sentio.logql.operands``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sentio.errors import LogQLParseError, LogQLTranslationError
from sentio.logql import ast
from sentio.logql.labels import SEVERITY_FIELD, Resolver, level_regex

# quoting lives in sentio.logql.logsql; the API and the tests import it from here too
from sentio.logql.logsql import qf as qf
from sentio.logql.logsql import quote as quote
from sentio.logql.logsql import re2_escape as re2_escape
from sentio.logql.operands import go_regex, ip_range, json_path, line_pattern, pattern_parser
from sentio.logql.templates import template

VALUE = "logql_value"
ROWS = "logql_rows"
_ARITH = {"+", "-", "*", "/", "%", "^"}
_COMPARE = {"==", "!=", ">", ">=", "<", "<="}
_SET = {"and", "or", "unless"}
_FLIP = {">": "<", "<": ">", ">=": "<=", "<=": ">=", "==": "==", "!=": "!="}
NS = 1_000_000_000
# range functions whose per-step buckets combine exactly into a longer range
_COMBINE = {
    "count_over_time": "sum",
    "rate": "sum",
    "bytes_over_time": "sum",
    "bytes_rate": "sum",
    "sum_over_time": "sum",
    "absent_over_time": "sum",
    "max_over_time": "max",
    "min_over_time": "min",
    "first_over_time": "first",
    "last_over_time": "last",
}
# where a rate_counter plan's stats groups by time buckets: "_time:<step> offset <offset>"
TIME_BUCKET = "@logql_time_bucket@"
# columns of the stats of a reduced plan, read by sentio.logql.evaluate
QUANTILE_VALUES = "logql_values"
RATE_COUNTER_COLUMNS = (
    "logql_n",
    "logql_v0",
    "logql_v1",
    "logql_t0",
    "logql_t1",
    "logql_resets",
    "logql_reset0",
)


def _num(value: float) -> str:
    return repr(int(value)) if value == int(value) and abs(value) < 1e15 else repr(value)


@dataclass(frozen=True)
class LogsPlan:
    """A log query: LogsQL for ``/select/logsql/query``."""

    query: str


@dataclass(frozen=True)
class StatsPlan:
    """A metric query answered by one LogsQL stats query; the value column is ``VALUE``."""

    query: str
    range_ns: int
    offset_ns: int = 0
    # VictoriaLogs field -> Loki label of each grouping column of the result
    labels: dict[str, str] = field(default_factory=dict)
    # how buckets of a step combine into a longer range: "sum", "max", "min", "first", "last",
    # "merge" (the stats columns of a reduced plan), or "" (they don't)
    combine: str = ""
    # a value computed from several stats columns ("quantile", "rate_counter"), or "" (VALUE)
    reduce: str = ""
    param: float = 0.0


@dataclass(frozen=True)
class ScalarPlan:
    """A number."""

    value: float


@dataclass(frozen=True)
class BinaryPlan:
    """Two metric plans (or one and a scalar) joined by label set in the Loki API."""

    op: str
    left: MetricPlan
    right: MetricPlan
    on: tuple[str, ...] | None = None
    ignoring: bool = False
    group: str = ""
    include: tuple[str, ...] = ()
    bool_modifier: bool = False


@dataclass(frozen=True)
class VectorPlan:
    """``vector(s)``: a series without labels holding ``value`` at every step."""

    value: float


@dataclass(frozen=True)
class LabelReplacePlan:
    """``label_replace`` over the series of ``inner``, in the Loki API."""

    inner: MetricPlan
    dst: str
    replacement: str
    src: str
    regex: re.Pattern[str]


@dataclass(frozen=True)
class AggPlan:
    """A vector aggregation over series computed from stats answers (``inner`` is no one stats)."""

    op: str
    inner: MetricPlan
    labels: tuple[str, ...] | None = None
    without: bool = False
    param: float = 0.0


@dataclass(frozen=True)
class AbsentPlan:
    """``absent_over_time``: 1 where ``inner`` counts nothing, with the selector's labels."""

    inner: StatsPlan
    labels: dict[str, str]


MetricPlan = (
    StatsPlan | ScalarPlan | VectorPlan | BinaryPlan | AbsentPlan | AggPlan | LabelReplacePlan
)
Plan = LogsPlan | MetricPlan


def _refuse(construct: str, reason: str) -> LogQLTranslationError:
    return LogQLTranslationError(construct, reason)


class Translator:
    """Translate LogQL ASTs with one ``Resolver`` for label names."""

    def __init__(self, resolver: Resolver | None = None) -> None:
        self.resolver = resolver or Resolver()

    # log queries ------------------------------------------------------------------------------
    def field(self, label: str) -> str:
        """Return the LogsQL field of a Loki label."""
        return self.resolver.field(label)

    def matcher(self, m: ast.Matcher) -> str:
        """Return the LogsQL filter of a stream matcher."""
        neg = m.op.startswith("!")
        if self.resolver.is_level(m.name):
            regex = level_regex(m.value) if m.op in ("=", "!=") else f"(?i)^(?:{m.value})$"
            body = f"{SEVERITY_FIELD}:~{quote(regex)}"
        elif m.op in ("=", "!="):
            body = f"{qf(self.field(m.name))}:={quote(m.value)}"
        else:
            body = f"{qf(self.field(m.name))}:~{quote(f'^(?:{m.value})$')}"
        return f"-{body}" if neg else body

    def line_filter(self, f: ast.LineFilter) -> str | None:
        """Return the LogsQL filter of a line filter, or None for a filter that keeps all."""
        regex = f.op in ("|~", "!~")
        parts = [quote(v if regex else re2_escape(v)) for v in f.values]
        if all(v == "" for v in f.values):
            return None if f.op in ("|=", "|~") else '_msg:~"^$"'
        if f.op.startswith("!"):
            return " ".join(f"-_msg:~{p}" for p in parts)
        if len(parts) == 1:
            return f"_msg:~{parts[0]}"
        return "(" + " or ".join(f"_msg:~{p}" for p in parts) + ")"

    def pattern_filter(self, f: ast.LineFilter, n: int) -> list[str]:
        """Return the pipes of a ``|>`` / ``!>`` pattern line filter, as Loki tests a pattern.

        Loki finds each literal's first occurrence after the previous one; the captures between
        must not be empty; the line must end with the pattern's last literal, or go on past
        its last capture. ``extract`` splits the line the same way (first occurrences); a
        regex first makes sure every literal occurs, in order.
        """
        pipes: list[str] = []
        conds: list[str] = []
        fields: list[str] = []
        for i, pattern in enumerate(f.values):
            extract, cond, names = line_pattern(pattern, f"logql_m{n}_{i}_")
            if extract:
                pipes.append(extract)
            conds.append(cond)
            fields.extend(names)
        if f.op == "|>":
            cond = conds[0] if len(conds) == 1 else " or ".join(f"({c})" for c in conds)
        else:
            cond = " ".join(f"!({c})" for c in conds)
        pipes.append(f"filter {cond}")
        if fields:
            pipes.append(f"delete {', '.join(fields)}")
        return pipes

    def label_expr(self, e: ast.LabelExpr) -> str | None:
        """Return the LogsQL filter of a label filter expression (None: keeps every line)."""
        if isinstance(e, ast.BoolFilter):
            left, right = self.label_expr(e.left), self.label_expr(e.right)
            if left is None or right is None:
                if e.op == "or":
                    return None
                return left or right
            return f"({left} {e.op} {right})"
        if e.name == "__error__":
            if e.op == "=" and e.value == "":
                return None  # VictoriaLogs sets no __error__: every line passes
            if e.op == "!=" and e.value == "":
                raise _refuse('__error__ != ""', "VictoriaLogs reports no parse errors")
            raise _refuse(f"__error__{e.op}{quote(e.value)}", "VictoriaLogs has no __error__ label")
        if e.kind == "string":
            return self.matcher(ast.Matcher(e.name, e.op, e.value))
        if e.kind == "ip":
            name = qf(self.field(e.name))
            body = f"{name}:{ip_range(e.name, e.op, e.value)}"
            # Loki drops a line without the label whichever the operator
            return f"({name}:* -{body})" if e.op == "!=" else body
        name = qf(self.field(e.name))
        if e.op in ("==", "!="):
            body = f"{name}:range[{e.value}, {e.value}]"
            return f"-{body}" if e.op == "!=" else body
        return f"{name}:{e.op}{e.value}"

    def parser(self, p: ast.Parser) -> list[str]:
        """Return the LogsQL pipes of a parser stage."""
        if p.flags:
            raise _refuse(f"{p.kind} {' '.join(p.flags)}", "parser flags are not translated")
        if p.kind == "regexp":
            return [f"extract_regexp {quote(p.expression or '')}"]
        if p.kind == "pattern":
            return pattern_parser(p.expression or "")
        if p.kind == "unpack":
            return [
                "unpack_json",
                'format if ("_entry":*) "<_entry>" as _msg',
                'delete "_entry"',
            ]
        pipe = "unpack_json" if p.kind == "json" else "unpack_logfmt"
        if not p.params:
            return [pipe]
        sources: list[str] = []
        renames: list[str] = []
        for label, expr in p.params:
            src = label if expr is None else expr
            if p.kind == "json":
                src = json_path(label, src)
            sources.append(src)
            if src != label:
                renames.append(f"rename {quote(src)} as {quote(label)}")
        return [f"{pipe} fields ({', '.join(quote(s) for s in sources)})", *renames]

    def log_parts(self, q: ast.LogQuery) -> tuple[list[str], list[str], ast.Unwrap | None]:
        """Return the filters, the pipes and the unwrap of a log query."""
        filters = [self.matcher(m) for m in q.matchers]
        pipes: list[str] = []
        unwrap: ast.Unwrap | None = None

        def add(expr: str | None) -> None:
            if expr is None:
                return
            if pipes:
                pipes.append(f"filter {expr}")
            else:
                filters.append(expr)

        for stage in q.stages:
            if isinstance(stage, ast.Unsupported):
                raise _refuse(stage.construct, "VictoriaLogs has no equivalent")
            if unwrap is not None and not isinstance(stage, ast.LabelFilter):
                raise _refuse(type(stage).__name__, "only label filters may follow unwrap")
            if isinstance(stage, ast.LineFilter) and stage.op in ("|>", "!>"):
                pipes.extend(self.pattern_filter(stage, len(pipes)))
            elif isinstance(stage, ast.LineFilter):
                add(self.line_filter(stage))
            elif isinstance(stage, ast.LabelFilter):
                add(self.label_expr(stage.expr))
            elif isinstance(stage, ast.Parser):
                pipes.extend(self.parser(stage))
            elif isinstance(stage, ast.LineFormat):
                pre: list[str] = []
                temps: list[str] = []
                pattern = template(stage.template, "line_format", self.field, pre, temps)
                pipes.extend([*pre, f"format {pattern} as _msg"])
                if temps:
                    pipes.append(f"delete {', '.join(temps)}")
            elif isinstance(stage, ast.LabelFormat):
                for dst, src, is_template in stage.items:
                    if is_template:
                        pre, temps = [], []
                        pattern = template(src, "label_format", self.field, pre, temps)
                        pipes.extend([*pre, f"format {pattern} as {qf(self.field(dst))}"])
                        if temps:
                            pipes.append(f"delete {', '.join(temps)}")
                    elif src != dst:
                        pipes.append(f"rename {qf(self.field(src))} as {qf(self.field(dst))}")
            elif isinstance(stage, ast.Drop):
                pipes.extend(self.drop(stage))
            elif isinstance(stage, ast.Decolorize):
                pipes.append("decolorize")
            elif isinstance(stage, ast.Unwrap):
                unwrap = stage
        return filters, pipes, unwrap

    def drop(self, d: ast.Drop) -> list[str]:
        """Return the LogsQL pipes of drop or keep; a matcher limits it to matching values."""
        internal = ("__error__", "__error_details__")
        pipes: list[str] = []
        by_label: dict[str, list[str]] = {}
        for m in d.matchers:
            if m.name not in internal and m.name not in d.names:
                by_label.setdefault(m.name, []).append(self.matcher(m))
        for label, conds in by_label.items():
            # drop: empty the label where a matcher matches; keep: where none does (empty is
            # absent)
            when = " or ".join(conds)
            if d.keep:
                when = f"!({when})"
            pipes.append(f'format if ({when}) "" as {qf(self.field(label))}')
        names = [n for n in (*d.names, *(m.name for m in d.matchers)) if n not in internal]
        if d.keep:
            fields = ", ".join(dict.fromkeys(qf(self.field(n)) for n in names))
            return [*pipes, f"fields _time, _msg, _stream{', ' if fields else ''}{fields}"]
        plain = [qf(self.field(n)) for n in d.names if n not in internal]
        if plain:
            pipes.append(f"delete {', '.join(plain)}")
        return pipes

    def log_query(self, q: ast.LogQuery) -> LogsPlan:
        """Return the plan of a log query."""
        filters, pipes, unwrap = self.log_parts(q)
        if unwrap is not None:
            raise _refuse("unwrap", "unwrap belongs inside a range aggregation")
        return LogsPlan(" | ".join([" ".join(filters), *pipes]))

    # metric queries ---------------------------------------------------------------------------
    def translate(self, query: ast.Query) -> Plan:
        """Return the plan of any LogQL query."""
        if isinstance(query, ast.LogQuery):
            return self.log_query(query)
        return self.expr(query)

    def expr(self, e: ast.Expr) -> MetricPlan:
        """Return the plan of a metric expression."""
        if isinstance(e, ast.Number):
            return ScalarPlan(e.value)
        if isinstance(e, ast.Vector):
            return VectorPlan(e.value)
        if isinstance(e, ast.LabelReplace):
            inner = self.expr(e.inner)
            if isinstance(inner, ScalarPlan):
                raise _refuse("label_replace(scalar, ...)", "label_replace needs a vector")
            return LabelReplacePlan(inner, e.dst, e.replacement, e.src, go_regex(e.regex))
        if isinstance(e, ast.UnsupportedExpr):
            raise _refuse(e.construct, "VictoriaLogs has no equivalent")
        if isinstance(e, ast.RangeAgg):
            return self.range_agg(e, None)
        if isinstance(e, ast.VectorAgg):
            return self.vector_agg(e)
        return self.binop(e)

    def _group_fields(self, labels: tuple[str, ...]) -> dict[str, str]:
        out: dict[str, str] = {}
        for label in labels:
            f = self.field(label)
            if self.resolver.is_level(label):
                f = "detected_level"
            out[f] = label
        return out

    def range_agg(
        self, ra: ast.RangeAgg, outer: ast.VectorAgg | None, extra: dict[str, str] | None = None
    ) -> MetricPlan:
        """Return the plan of a range aggregation, fused with ``outer`` when one stats does."""
        filters, pipes, unwrap = self.log_parts(ra.query)
        secs = ra.range_ns / NS
        needs_unwrap = ra.fn == "rate_counter" or (
            ra.fn.endswith("_over_time")
            and ra.fn not in ("count_over_time", "bytes_over_time", "absent_over_time")
        )
        if needs_unwrap and unwrap is None:
            raise _refuse(f"{ra.fn}()", "needs | unwrap <label>")
        if not needs_unwrap and unwrap is not None and ra.fn != "rate":
            raise _refuse(f"{ra.fn}() with unwrap", "unwrap is for the *_over_time functions")
        if ra.grouping is not None and ra.grouping.without:
            raise _refuse(f"{ra.fn}() without (...)", "LogsQL groups by named fields only")
        if ra.grouping is not None and unwrap is None:
            raise _refuse(f"{ra.fn}() by (...)", "grouping belongs to an outer aggregation")
        value_field = ""
        if unwrap is not None:
            value_field = self.field(unwrap.name)
            # Loki drops the samples whose label is not a number (duration, bytes)
            pipes.append(f"filter {qf(value_field)}:range[-inf, inf]")
            if unwrap.conversion in ("duration", "duration_seconds"):
                pipes.append(f"math {qf(value_field)} / {NS} as {qf(value_field)}")
            elif unwrap.conversion == "bytes":
                pipes.append(f"math {qf(value_field)} as {qf(value_field)}")
        if outer is not None:
            groups = self._group_fields(outer.grouping.labels) if outer.grouping else {}
        elif ra.grouping is not None:
            groups = self._group_fields(ra.grouping.labels)
        else:
            groups = {"_stream": "_stream", **(extra or {})}
        pre_level = self._level_pipes(groups)
        by = f"by ({', '.join(qf(f) for f in groups)}) " if groups else ""
        phi = ra.param if ra.param is not None else 0.0
        if ra.fn == "rate_counter" or (ra.fn == "quantile_over_time" and phi not in (0.0, 1.0)):
            head = [" ".join(filters), *pipes, *pre_level]
            return self._reduced(ra, head, groups, qf(value_field), by)
        stat, post = self._stat(ra, value_field, secs)
        stats = _stats_pipe(by, stat)
        parts = [" ".join(filters), *pipes, *pre_level, stats, *post]
        combine = _COMBINE.get(ra.fn, "")
        if outer is not None and outer.op != combine:
            combine = ""
        plan = StatsPlan(" | ".join(parts), ra.range_ns, ra.offset_ns, groups, combine)
        if ra.fn == "absent_over_time":
            labels = {m.name: m.value for m in ra.query.matchers if m.op == "="}
            return AbsentPlan(
                StatsPlan(plan.query, plan.range_ns, plan.offset_ns, {}, "sum"), labels
            )
        return plan

    def _reduced(
        self, ra: ast.RangeAgg, head: list[str], groups: dict[str, str], v: str, by: str
    ) -> StatsPlan:
        """Return the plan whose value the Loki API computes from several stats columns."""
        if ra.fn == "rate_counter":
            n, v0, v1, t0, t1, resets, reset0 = RATE_COUNTER_COLUMNS
            # a reset adds the value before it; the first sample of a step's bucket sees the
            # previous bucket's last sample, so its contribution is taken out again (reset0)
            head += [
                f"running_stats {by}last({v}) offset 1 as logql_prev",
                f"math ceil(min(max(logql_prev - {v}, 0), 1)) as logql_up, "
                "(logql_prev * logql_up) default 0 as logql_reset",
            ]
            cols = [
                f"count() as {n}",
                f"field_min(_time, {v}) as {v0}",
                f"field_max(_time, {v}) as {v1}",
                f"min(_time) as {t0}",
                f"max(_time) as {t1}",
                f"sum(logql_reset) as {resets}",
                f"field_min(_time, logql_reset) as {reset0}",
            ]
            # buckets by time in the query itself (the Loki API puts the step in for
            # TIME_BUCKET): stats_query_range refuses running_stats before stats
            fields = [*(qf(f) for f in groups), TIME_BUCKET]
            by = f"by ({', '.join(fields)}) "
            tail = []
        else:
            cols = [f"values({v}) as {QUANTILE_VALUES}"]
            tail = [] if by else [f"filter {ROWS}:>0", f"delete {ROWS}"]
            if not by:
                cols.append(f"count() as {ROWS}")
        query = " | ".join([*head, f"stats {by}{', '.join(cols)}", *tail])
        param = ra.param if ra.param is not None else 0.0
        fn = "rate_counter" if ra.fn == "rate_counter" else "quantile"
        # the Loki API merges the columns of a window's buckets (sentio.logql.reduce.merge)
        return StatsPlan(query, ra.range_ns, ra.offset_ns, groups, "merge", fn, param)

    def _level_pipes(self, groups: dict[str, str]) -> list[str]:
        if "detected_level" not in groups:
            return []
        return [
            f'format "<lc:{SEVERITY_FIELD}>" as detected_level',
            'replace ("warning", "warn") at detected_level',
        ]

    @staticmethod
    def _fusable(op: str, fn: str) -> bool:
        additive = {"count_over_time", "rate", "bytes_over_time", "bytes_rate", "sum_over_time"}
        return (
            (op == "sum" and fn in additive)
            or (op == "max" and fn == "max_over_time")
            or (op == "min" and fn == "min_over_time")
        )

    def _stat(self, ra: ast.RangeAgg, value_field: str, secs: float) -> tuple[str, list[str]]:
        v = qf(value_field) if value_field else ""
        rate = [f"math {VALUE} / {_num(secs)} as {VALUE}"]
        table: dict[str, tuple[str, list[str]]] = {
            "count_over_time": ("count()", []),
            "absent_over_time": ("count()", []),
            "rate": ((f"sum({v})" if v else "count()"), rate),
            "bytes_over_time": ("sum_len(_msg)", []),
            "bytes_rate": ("sum_len(_msg)", rate),
            "sum_over_time": (f"sum({v})", []),
            "avg_over_time": (f"avg({v})", []),
            "min_over_time": (f"min({v})", []),
            "max_over_time": (f"max({v})", []),
            "stddev_over_time": (f"stddev({v})", []),
            "stdvar_over_time": (f"stddev({v})", [f"math {VALUE} * {VALUE} as {VALUE}"]),
            "quantile_over_time": (self._quantile(ra.param or 0.0, v), []),
            "first_over_time": (f"field_min(_time, {v})", []),
            "last_over_time": (f"field_max(_time, {v})", []),
        }
        if ra.fn not in table:
            raise _refuse(f"{ra.fn}()", "no LogsQL stats function")
        return table[ra.fn]

    @staticmethod
    def _quantile(phi: float, v: str) -> str:
        # 0 and 1 only: the others are reduced from the sorted values (Translator._reduced)
        return f"min({v})" if phi <= 0 else f"max({v})"

    def vector_agg(self, va: ast.VectorAgg) -> MetricPlan:
        """Return the plan of a vector aggregation."""
        without = va.grouping is not None and va.grouping.without
        inner: MetricPlan
        if isinstance(va.inner, ast.RangeAgg):
            if self._fusable(va.op, va.inner.fn) and not without:
                return self.range_agg(va.inner, va)
            extra = self._group_fields(va.grouping.labels) if va.grouping and not without else {}
            inner = self.range_agg(va.inner, None, extra)
        else:
            inner = self.expr(va.inner)
        if isinstance(inner, ScalarPlan):
            raise _refuse(f"{va.op}(scalar)", "an aggregation needs a vector")
        if (
            not isinstance(inner, StatsPlan)
            or inner.reduce
            or inner.combine in ("first", "last")
            or (without and "_stream" in inner.labels)
        ):
            # the inner series are no one stats query's rows (or are streams, whose labels
            # LogsQL cannot drop one by one): aggregate the series of the stats answers
            labels = va.grouping.labels if va.grouping is not None else ()
            return AggPlan(va.op, inner, labels, without, va.param or 0.0)
        groups: dict[str, str] = {}
        if va.grouping is not None:
            if va.grouping.without:
                drop = {self.field(x) for x in va.grouping.labels}
                groups = {f: lab for f, lab in inner.labels.items() if f not in drop}
            else:
                groups = self._group_fields(va.grouping.labels)
                missing = [lab for f, lab in groups.items() if f not in inner.labels]
                if missing:
                    raise _refuse(
                        f"{va.op} by ({', '.join(missing)})", "not a label of the inner series"
                    )
        by = f"by ({', '.join(qf(f) for f in groups)}) " if groups else ""
        query = inner.query
        if va.op in ("topk", "bottomk"):
            order = " desc" if va.op == "topk" else ""
            part = f" partition by ({', '.join(qf(f) for f in groups)})" if groups else ""
            k = int(va.param or 0)
            query += f" | first {k} by ({VALUE}{order}){part}"
            return StatsPlan(query, inner.range_ns, inner.offset_ns, inner.labels)
        if va.op in ("sort", "sort_desc"):
            query += f" | sort by ({VALUE}{' desc' if va.op == 'sort_desc' else ''})"
            return StatsPlan(query, inner.range_ns, inner.offset_ns, inner.labels)
        fn = {
            "sum": "sum",
            "avg": "avg",
            "min": "min",
            "max": "max",
            "count": "count",
            "stddev": "stddev",
            "stdvar": "stddev",
        }.get(va.op)
        if fn is None:
            raise _refuse(f"{va.op}()", "no LogsQL stats function")
        arg = "" if fn == "count" else VALUE
        query += " | " + _stats_pipe(by, f"{fn}({arg})")
        if va.op == "stdvar":
            query += f" | math {VALUE} * {VALUE} as {VALUE}"
        combine = inner.combine if va.op == inner.combine else ""
        return StatsPlan(query, inner.range_ns, inner.offset_ns, groups, combine)

    def binop(self, b: ast.BinOp) -> MetricPlan:
        """Return the plan of a binary operator."""
        left, right = self.expr(b.left), self.expr(b.right)
        if b.bool_modifier and b.op not in _COMPARE:
            raise LogQLParseError(f"bool modifier on {b.op}: only comparisons take bool")
        if isinstance(left, ScalarPlan) and isinstance(right, ScalarPlan):
            if b.op in _SET or (b.op in _COMPARE and not b.bool_modifier):
                raise _refuse(f"scalar {b.op} scalar", "needs bool")
            if b.op in _COMPARE:
                return ScalarPlan(1.0 if _compare(b.op, left.value, right.value) else 0.0)
            return ScalarPlan(_arith(b.op, left.value, right.value))
        if b.op in _SET and (isinstance(left, ScalarPlan) or isinstance(right, ScalarPlan)):
            raise _refuse(f"{b.op} with a scalar", "set operators join two vectors")
        stats, scalar, scalar_left = None, None, False
        if isinstance(left, StatsPlan) and isinstance(right, ScalarPlan):
            stats, scalar = left, right.value
        elif isinstance(right, StatsPlan) and isinstance(left, ScalarPlan):
            stats, scalar, scalar_left = right, left.value, True
        if stats is not None and stats.reduce:
            stats = None  # its value is computed in the Loki API: so is the operator
        if stats is not None and scalar is not None and not b.bool_modifier:
            n = _num(scalar)
            # a sum of buckets stays one after scaling by a scalar; nothing else is kept
            linear = b.op == "*" or (b.op == "/" and not scalar_left)
            combine = stats.combine if stats.combine == "sum" and linear else ""
            if stats.combine in ("first", "last") and b.op in _ARITH:
                combine = stats.combine  # the first (last) bucket's value, transformed
            if b.op in _ARITH:
                expr = f"{n} {b.op} {VALUE}" if scalar_left else f"{VALUE} {b.op} {n}"
                pipe = f"math {expr} as {VALUE}"
            else:
                op = _FLIP[b.op] if scalar_left else b.op
                if op == "==":
                    pipe = f"filter {VALUE}:range[{n}, {n}]"
                elif op == "!=":
                    pipe = f"filter -{VALUE}:range[{n}, {n}]"
                else:
                    pipe = f"filter {VALUE}:{op}{n}"
            return StatsPlan(
                f"{stats.query} | {pipe}", stats.range_ns, stats.offset_ns, stats.labels, combine
            )
        on = tuple(b.matching) if b.matching is not None else None
        return BinaryPlan(
            b.op, left, right, on, b.ignoring, b.group, tuple(b.include), b.bool_modifier
        )


def _stats_pipe(by: str, fn: str) -> str:
    """Return a stats pipe; ungrouped, it yields no row (not a zero) when nothing matched."""
    if by:
        return f"stats {by}{fn} as {VALUE}"
    return f"stats {fn} as {VALUE}, count() as {ROWS} | filter {ROWS}:>0 | delete {ROWS}"


def _compare(op: str, a: float, b: float) -> bool:
    return {
        "==": a == b,
        "!=": a != b,
        ">": a > b,
        ">=": a >= b,
        "<": a < b,
        "<=": a <= b,
    }[op]


def _arith(op: str, a: float, b: float) -> float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a / b if b else float("nan")
    if op == "%":
        return a % b if b else float("nan")
    return float(a**b)


def translate(query: ast.Query, resolver: Resolver | None = None) -> Plan:
    """Return the LogsQL plan of a parsed LogQL query."""
    return Translator(resolver).translate(query)
