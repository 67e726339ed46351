"""Translate parsed LogQL into LogsQL plans for VictoriaLogs; refuse what has no faithful form.

A log query becomes one LogsQL query (filters, then pipes). A metric query becomes a
``StatsPlan``: one LogsQL query ending in ``stats`` (and ``math`` / ``filter`` / ``first`` /
``sort`` pipes after it) that VictoriaLogs' ``stats_query_range`` or ``stats_query`` answers.
Binary operators between two metric queries become a ``BinaryPlan`` whose sides are answered
separately and joined by label set; ``absent_over_time`` an ``AbsentPlan``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from sentio.errors import LogQLTranslationError
from sentio.logql import ast
from sentio.logql.labels import SEVERITY_FIELD, Resolver, level_regex

VALUE = "logql_value"
ROWS = "logql_rows"
_RE2_META = re.compile(r"([\\.+*?()|\[\]{}^$])")
_TEMPLATE_ACTION = re.compile(r"{{-?\s*(.*?)\s*-?}}", re.S)
_TEMPLATE_FIELD = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)")
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
}


def re2_escape(text: str) -> str:
    """Return ``text`` as an RE2 regex that matches it literally."""
    return _RE2_META.sub(r"\\\1", text)


def quote(text: str) -> str:
    """Return ``text`` as a LogsQL quoted string."""
    return json.dumps(text, ensure_ascii=False)


def qf(name: str) -> str:
    """Return a field name for LogsQL: internal names bare, others quoted."""
    return name if name in ("_msg", "_time", "_stream") else quote(name)


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
    # how buckets of a step combine into a longer range: "sum", "max", "min", or "" (they don't)
    combine: str = ""


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


@dataclass(frozen=True)
class AbsentPlan:
    """``absent_over_time``: 1 where ``inner`` counts nothing, with the selector's labels."""

    inner: StatsPlan
    labels: dict[str, str]


MetricPlan = StatsPlan | ScalarPlan | BinaryPlan | AbsentPlan
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
        name = qf(self.field(e.name))
        if e.op in ("==", "!="):
            body = f"{name}:range[{e.value}, {e.value}]"
            return f"-{body}" if e.op == "!=" else body
        return f"{name}:{e.op}{e.value}"

    def template(self, text: str, construct: str) -> str:
        """Return a LogsQL ``format`` pattern for a Go template with only ``{{.label}}``."""
        if "<" in _TEMPLATE_ACTION.sub("", text) or ">" in _TEMPLATE_ACTION.sub("", text):
            raise _refuse(construct, "'<' and '>' outside {{ }} have no LogsQL format form")
        out: list[str] = []
        pos = 0
        for m in _TEMPLATE_ACTION.finditer(text):
            out.append(text[pos : m.start()])
            action = m.group(1).strip()
            fm = _TEMPLATE_FIELD.fullmatch(action)
            if action == "__line__":
                out.append("<_msg>")
            elif action == "__timestamp__":
                out.append("<_time>")
            elif fm:
                out.append(f"<{self.field(fm.group(1))}>")
            else:
                raise _refuse(
                    f"{construct} {{{{ {action} }}}}",
                    "only {{.label}}, {{__line__}} and {{__timestamp__}} are translated",
                )
            pos = m.end()
        out.append(text[pos:])
        return quote("".join(out))

    def parser(self, p: ast.Parser) -> list[str]:
        """Return the LogsQL pipes of a parser stage."""
        if p.flags:
            raise _refuse(f"{p.kind} {' '.join(p.flags)}", "parser flags are not translated")
        if p.kind == "regexp":
            return [f"extract_regexp {quote(p.expression or '')}"]
        if p.kind == "pattern":
            return [f"extract {quote(p.expression or '')}"]
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
            if p.kind == "json" and not re.fullmatch(
                r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*", src
            ):
                raise _refuse(
                    f"json {label}={quote(src)}", "only dotted paths like a.b are translated"
                )
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
            if isinstance(stage, ast.LineFilter):
                add(self.line_filter(stage))
            elif isinstance(stage, ast.LabelFilter):
                add(self.label_expr(stage.expr))
            elif isinstance(stage, ast.Parser):
                pipes.extend(self.parser(stage))
            elif isinstance(stage, ast.LineFormat):
                pipes.append(f"format {self.template(stage.template, 'line_format')} as _msg")
            elif isinstance(stage, ast.LabelFormat):
                for dst, src, is_template in stage.items:
                    if is_template:
                        pattern = self.template(src, "label_format")
                        pipes.append(f"format {pattern} as {qf(self.field(dst))}")
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
        """Return the LogsQL pipes of drop or keep."""
        word = "keep" if d.keep else "drop"
        if d.matchers:
            m = d.matchers[0]
            raise _refuse(f"{word} {m.name}{m.op}{quote(m.value)}", "drop/keep with a matcher")
        names = [n for n in d.names if n != "__error__" and n != "__error_details__"]
        if not names:
            return []
        fields = ", ".join(qf(self.field(n)) for n in names)
        if d.keep:
            return [f"fields _time, _msg, _stream, {fields}"]
        return [f"delete {fields}"]

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
        if ra.fn in ("rate_counter", "first_over_time", "last_over_time"):
            raise _refuse(f"{ra.fn}()", "VictoriaLogs' stats have no per-stream ordered form")
        filters, pipes, unwrap = self.log_parts(ra.query)
        secs = ra.range_ns / NS
        needs_unwrap = ra.fn.endswith("_over_time") and ra.fn not in (
            "count_over_time",
            "bytes_over_time",
            "absent_over_time",
        )
        if needs_unwrap and unwrap is None:
            raise _refuse(f"{ra.fn}()", "needs | unwrap <label>")
        if not needs_unwrap and unwrap is not None and ra.fn != "rate":
            raise _refuse(f"{ra.fn}() with unwrap", "unwrap is for the *_over_time functions")
        if ra.grouping is not None and ra.grouping.without:
            raise _refuse(f"{ra.fn}() without (...)", "LogsQL groups by named fields only")
        if ra.grouping is not None and not needs_unwrap:
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
        stat, post = self._stat(ra, value_field, secs)
        if outer is not None:
            groups = self._group_fields(outer.grouping.labels) if outer.grouping else {}
        elif ra.grouping is not None:
            groups = self._group_fields(ra.grouping.labels)
        else:
            groups = {"_stream": "_stream", **(extra or {})}
        pre_level = self._level_pipes(groups)
        by = f"by ({', '.join(qf(f) for f in groups)}) " if groups else ""
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
        }
        if ra.fn not in table:
            raise _refuse(f"{ra.fn}()", "no LogsQL stats function")
        return table[ra.fn]

    @staticmethod
    def _quantile(phi: float, v: str) -> str:
        if phi <= 0:
            return f"min({v})"
        if phi >= 1:
            return f"max({v})"
        raise _refuse(
            f"quantile_over_time({_num(phi)}, ...)",
            "VictoriaLogs' quantile() takes the nearest-rank sample where Loki interpolates "
            "between the two nearest; only 0 (min) and 1 (max) are the same",
        )

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
        if not isinstance(inner, StatsPlan):
            raise _refuse(f"{va.op}(...) over a binary or absent expression", "not one stats query")
        groups: dict[str, str] = {}
        if va.grouping is not None:
            if va.grouping.without:
                if set(inner.labels) == {"_stream"}:
                    raise _refuse(
                        f"{va.op} without (...)",
                        "the inner series are streams; name the labels to keep with by (...)",
                    )
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
        if b.bool_modifier:
            raise _refuse(f"{b.op} bool", "LogsQL math has no comparison operators")
        if isinstance(left, ScalarPlan) and isinstance(right, ScalarPlan):
            if b.op in _COMPARE or b.op in _SET:
                raise _refuse(f"scalar {b.op} scalar", "needs bool")
            return ScalarPlan(_arith(b.op, left.value, right.value))
        if b.op in _SET and (isinstance(left, ScalarPlan) or isinstance(right, ScalarPlan)):
            raise _refuse(f"{b.op} with a scalar", "set operators join two vectors")
        stats, scalar, scalar_left = None, None, False
        if isinstance(left, StatsPlan) and isinstance(right, ScalarPlan):
            stats, scalar = left, right.value
        elif isinstance(right, StatsPlan) and isinstance(left, ScalarPlan):
            stats, scalar, scalar_left = right, left.value, True
        if stats is not None and scalar is not None:
            n = _num(scalar)
            # a sum of buckets stays one after scaling by a scalar; nothing else is kept
            linear = b.op == "*" or (b.op == "/" and not scalar_left)
            combine = stats.combine if stats.combine == "sum" and linear else ""
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
        on = tuple(self.field(x) for x in b.matching) if b.matching is not None else None
        return BinaryPlan(b.op, left, right, on)


def _stats_pipe(by: str, fn: str) -> str:
    """Return a stats pipe; ungrouped, it yields no row (not a zero) when nothing matched."""
    if by:
        return f"stats {by}{fn} as {VALUE}"
    return f"stats {fn} as {VALUE}, count() as {ROWS} | filter {ROWS}:>0 | delete {ROWS}"


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
