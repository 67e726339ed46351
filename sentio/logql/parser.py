"""Parse LogQL text into ``sentio.logql.ast`` with lark; errors name the line and column."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from lark import Lark, Token, Transformer, v_args
from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedInput, VisitError

from sentio.errors import LogQLParseError
from sentio.logql import ast
from sentio.logql.grammar import GRAMMAR

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
    "w": 7 * 86400 * 1_000_000_000,
    "y": 365 * 86400 * 1_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h|d|w|y)")
_SIMPLE_ESCAPES = {
    "\\": "\\",
    '"': '"',
    "'": "'",
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
}
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{3}|.)", re.S)


def parse_duration(text: str) -> int:
    """Return a LogQL/Prometheus duration (``1h30m``, ``250ms``) in nanoseconds."""
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS_NS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise LogQLParseError(f"not a duration: {text!r}")
    return int(total)


def unquote(token: str) -> str:
    """Return the value of a Go-quoted (``"..."``) or raw (backtick) LogQL string."""
    if token.startswith("`"):
        return token[1:-1]

    def one(m: re.Match[str]) -> str:
        esc = m.group(1)
        if esc in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[esc]
        if esc[0] in "xuU" and len(esc) > 1:
            return chr(int(esc[1:], 16))
        if len(esc) == 3 and esc.isdigit():
            return chr(int(esc, 8))
        raise LogQLParseError(f"invalid escape \\{esc} in string {token}")

    return _ESCAPE.sub(one, token[1:-1])


def _num(token: Token) -> float:
    text = str(token)
    return float(int(text, 16)) if text.lower().startswith("0x") else float(text)


@v_args(inline=True)
class _ToAst(Transformer[Token, Any]):
    """Turn lark's tree into the dataclasses of ``sentio.logql.ast``."""

    def string(self, tok: Token) -> str:
        return unquote(str(tok))

    def label_name(self, tok: Any) -> str:
        return _Name(str(tok))

    def keyword_name(self, tok: Token) -> str:
        return _Name(str(tok))

    def label_list(self, *names: str) -> tuple[str, ...]:
        return tuple(names)

    def matcher(self, name: str, op: Token, value: str) -> ast.Matcher:
        if str(op) not in ("=", "!=", "=~", "!~"):
            raise LogQLParseError(f"stream matcher {name}{op}: operator must be = != =~ or !~")
        return ast.Matcher(name, str(op), value)

    def selector(self, *matchers: ast.Matcher | None) -> tuple[ast.Matcher, ...]:
        out = tuple(m for m in matchers if m is not None)
        if not out:
            raise LogQLParseError("a stream selector needs at least one matcher")
        return out

    def pipeline(self, *stages: ast.Stage) -> tuple[ast.Stage, ...]:
        return tuple(stages)

    def log_query(self, matchers: tuple[ast.Matcher, ...], stages: Any) -> ast.LogQuery:
        return ast.LogQuery(matchers, stages)

    # line filters -------------------------------------------------------------------------
    def ip_value(self, _ip: Token, value: str) -> ast.Unsupported:
        return ast.Unsupported("ip() line filter")

    def line_filter(self, op: Token, *values: Any) -> ast.Stage:
        kept = [v for v in values if not (isinstance(v, Token) and v.type == "OR")]
        if any(isinstance(v, ast.Unsupported) for v in kept):
            return ast.Unsupported("ip() line filter")
        if str(op) in ("|>", "!>"):
            for value in kept:
                _check_line_pattern(str(op), value)
        return ast.LineFilter(str(op), tuple(kept))

    # parsers ------------------------------------------------------------------------------
    def extract_param(self, name: str, op: Token | None = None, expr: str | None = None) -> Any:
        if op is not None and str(op) != "=":
            raise LogQLParseError(f"parser parameter {name}{op}: expected =")
        return (name, expr)

    def extract_params(self, *params: tuple[str, str | None]) -> tuple[Any, ...]:
        return params

    def parser_flag(self, flag: Token) -> str:
        return str(flag)

    def json_parser(self, _kw: Token, params: Any = None) -> ast.Parser:
        return ast.Parser("json", params=params or ())

    def logfmt_parser(self, _kw: Token, *rest: Any) -> ast.Parser:
        flags = tuple(r for r in rest if isinstance(r, str))
        params = next((r for r in rest if isinstance(r, tuple)), ())
        return ast.Parser("logfmt", params=params, flags=flags)

    def regexp_parser(self, _kw: Token, expr: str) -> ast.Parser:
        return ast.Parser("regexp", expression=expr)

    def pattern_parser(self, _kw: Token, expr: str) -> ast.Parser:
        return ast.Parser("pattern", expression=expr)

    def unpack_parser(self, _kw: Token) -> ast.Parser:
        return ast.Parser("unpack")

    # label filters ------------------------------------------------------------------------
    def lf_string(self, value: str) -> tuple[str, str]:
        return ("string", value)

    def lf_number(self, tok: Token) -> tuple[str, str]:
        return ("number", str(tok))

    def lf_signed(self, sign: Token, tok: Token) -> tuple[str, str]:
        return ("number", f"{sign}{tok}")

    def lf_duration(self, tok: Token) -> tuple[str, str]:
        return ("duration", str(tok))

    def lf_bytes(self, tok: Token) -> tuple[str, str]:
        return ("bytes", str(tok))

    def lf_cmp(self, name: str, op: Token, value: tuple[str, str]) -> ast.Compare:
        kind, text = value
        o = str(op)
        if kind == "string" and o not in ("=", "!=", "=~", "!~"):
            raise LogQLParseError(f"label filter {name}{o}: a string compares with = != =~ !~")
        if kind != "string" and o in ("=~", "!~"):
            raise LogQLParseError(f"label filter {name}{o}: a regex needs a string")
        return ast.Compare(name, "==" if (o == "=" and kind != "string") else o, text, kind)

    def lf_ip(self, name: str, op: Token, _ip: Token, value: str) -> ast.Compare:
        if str(op) not in ("=", "!="):
            raise LogQLParseError(f"label filter {name}{op}ip(...): ip() takes = or !=")
        return ast.Compare(name, str(op), value, "ip")

    def lf_and_expr(self, *parts: Any) -> ast.BoolFilter:
        items = [p for p in parts if not isinstance(p, Token)]
        return ast.BoolFilter("and", items[0], items[1])

    def lf_or_expr(self, left: ast.LabelExpr, _or: Token, right: ast.LabelExpr) -> ast.BoolFilter:
        return ast.BoolFilter("or", left, right)

    def label_filter_stage(self, expr: ast.LabelExpr) -> ast.Stage:
        return ast.LabelFilter(expr)

    # formatting stages --------------------------------------------------------------------
    def line_format(self, _kw: Token, template: str) -> ast.LineFormat:
        return ast.LineFormat(template)

    def label_format_item(self, dst: str, op: Token, src: Any) -> tuple[str, str, bool]:
        if str(op) != "=":
            raise LogQLParseError(f"label_format {dst}{op}: expected =")
        # a label name arrives from label_name (a str built from a token), a template from string
        return (dst, src, not isinstance(src, _Name))

    def label_format(self, _kw: Token, *items: tuple[str, str, bool]) -> ast.LabelFormat:
        return ast.LabelFormat(tuple(items))

    def drop_item(self, name: str, op: Token | None = None, value: str | None = None) -> Any:
        if op is None:
            return name
        return ast.Matcher(name, str(op), value or "")

    def _drop(self, items: tuple[Any, ...], keep: bool) -> ast.Drop:
        names = tuple(i for i in items if isinstance(i, str))
        matchers = tuple(i for i in items if isinstance(i, ast.Matcher))
        return ast.Drop(names, matchers, keep)

    def drop(self, _kw: Token, *items: Any) -> ast.Drop:
        return self._drop(items, keep=False)

    def keep(self, _kw: Token, *items: Any) -> ast.Drop:
        return self._drop(items, keep=True)

    def decolorize(self, _kw: Token) -> ast.Decolorize:
        return ast.Decolorize()

    def unwrap_target(self, *parts: Any) -> ast.Unwrap:
        if len(parts) == 1:
            return ast.Unwrap(str(parts[0]))
        return ast.Unwrap(str(parts[1]), str(parts[0]))

    def unwrap(self, _kw: Token, target: ast.Unwrap) -> ast.Unwrap:
        return target

    def distinct(self, _kw: Token, _labels: Any) -> ast.Unsupported:
        return ast.Unsupported("distinct")

    # metric queries -----------------------------------------------------------------------
    def offset(self, _kw: Token, tok: Token) -> int:
        return parse_duration(str(tok))

    def range_spec(self, tok: Token, offset: int = 0) -> tuple[int, int]:
        text = str(tok)[1:-1].strip()
        return (parse_duration(text), offset)

    def log_range(self, selector: Any, a: Any, b: Any) -> tuple[ast.LogQuery, int, int]:
        stages, spec = (
            (b, a) if isinstance(a, tuple) and len(a) == 2 and isinstance(a[0], int) else (a, b)
        )
        return (ast.LogQuery(selector, stages), spec[0], spec[1])

    def grouping(self, kind: Token, labels: tuple[str, ...] | None = None) -> ast.Grouping:
        return ast.Grouping(str(kind) == "without", labels or ())

    def range_agg(self, fn: Token, *rest: Any) -> ast.RangeAgg:
        param: float | None = None
        grouping: ast.Grouping | None = None
        log_range: tuple[ast.LogQuery, int, int] | None = None
        for r in rest:
            if isinstance(r, Token):
                param = _num(r)
            elif isinstance(r, ast.Grouping):
                grouping = r
            else:
                log_range = r
        assert log_range is not None
        query, range_ns, offset_ns = log_range
        name = str(fn)
        if name == "quantile_over_time" and param is None:
            raise LogQLParseError(
                "quantile_over_time needs a quantile: quantile_over_time(0.9, ...)"
            )
        return ast.RangeAgg(name, query, range_ns, offset_ns, param, grouping)

    def vector_agg(self, op: Token, *rest: Any) -> ast.VectorAgg:
        param: float | None = None
        grouping: ast.Grouping | None = None
        inner: Any = None
        for r in rest:
            if isinstance(r, Token) and r.type == "NUMBER":
                param = _num(r)
            elif isinstance(r, ast.Grouping):
                grouping = r
            else:
                inner = r
        name = str(op)
        if name in ("topk", "bottomk") and param is None:
            raise LogQLParseError(f"{name} needs a count: {name}(5, ...)")
        return ast.VectorAgg(name, inner, grouping, param)

    def vector_fn(self, fn: Token, *args: Any) -> ast.Expr:
        if str(fn) == "vector":
            return ast.Vector(_num(args[0]))
        if str(fn) == "label_replace":
            strings = [unquote(str(a)) for a in args[1:] if isinstance(a, Token)]
            if len(args) != 5 or len(strings) != 4 or isinstance(args[0], ast.LogQuery):
                raise LogQLParseError(
                    "label_replace needs (vector, dst_label, replacement, src_label, regex)"
                )
            dst, replacement, src, regex = strings
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", dst):
                raise LogQLParseError(f"label_replace: invalid destination label name {dst!r}")
            return ast.LabelReplace(args[0], dst, replacement, src, regex)
        if str(fn) == "approx_topk":
            # Loki estimates it; the exact top k is what it estimates
            if len(args) != 2 or not isinstance(args[0], ast.Number):
                raise LogQLParseError("approx_topk needs (k, vector)")
            return ast.VectorAgg("topk", args[1], None, args[0].value)
        return ast.UnsupportedExpr(f"{fn}()")

    def number(self, tok: Token) -> ast.Number:
        return ast.Number(_num(tok))

    def neg(self, _sign: Token, operand: Any) -> ast.Expr:
        if str(_sign) == "+":
            return operand  # type: ignore[no-any-return]
        if isinstance(operand, ast.Number):
            return ast.Number(-operand.value)
        return ast.BinOp("*", ast.Number(-1.0), operand)

    def modifier(self, *parts: Any) -> tuple[bool, _Matching | None]:
        is_bool = any(isinstance(p, Token) and p.type == "BOOL" for p in parts)
        matching = next((p for p in parts if isinstance(p, _Matching)), None)
        return (is_bool, matching)

    def matching(self, kind: Token, *rest: Any) -> _Matching:
        labels = tuple(rest[0] or ()) if rest else ()
        group, include = rest[1] if len(rest) > 1 and rest[1] is not None else ("", ())
        return _Matching(str(kind) == "ignoring", labels, group, include)

    def group_modifier(self, kind: Token, labels: Any = None) -> tuple[str, tuple[str, ...]]:
        return ("left" if str(kind) == "group_left" else "right", tuple(labels or ()))

    def binop(
        self, left: Any, op: Token, modifier: tuple[bool, _Matching | None], right: Any
    ) -> ast.Expr:
        is_bool, m = modifier
        for side in (left, right):
            if isinstance(side, ast.LogQuery):
                raise LogQLParseError("a binary operator needs metric queries, not a log query")
        name = str(op)
        if m is None:
            return ast.BinOp(name, left, right, is_bool)
        if m.group and name in ("and", "or", "unless"):
            raise LogQLParseError(f"{name}: group_{m.group} is not allowed with set operators")
        return ast.BinOp(name, left, right, is_bool, m.labels, m.ignoring, m.group, m.include)


@dataclass(frozen=True)
class _Matching:
    """A vector matching clause: ``on``/``ignoring`` labels and a group modifier."""

    ignoring: bool
    labels: tuple[str, ...]
    group: str
    include: tuple[str, ...]


LINE_PATTERN_CAPTURE = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


def _check_line_pattern(op: str, pattern: str) -> None:
    """Refuse what Loki refuses in a |> pattern: named or consecutive captures."""
    end = -1
    for m in LINE_PATTERN_CAPTURE.finditer(pattern):
        if m.group(1) != "_":
            raise LogQLParseError(
                f"{op} {pattern!r}: only <_> captures are allowed in a line filter"
            )
        if m.start() == end:
            raise LogQLParseError(f"{op} {pattern!r}: consecutive captures are not allowed")
        end = m.end()


class _Name(str):
    """A label name, told apart from a template string in label_format."""


@functools.cache
def _lark() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", propagate_positions=False)


def parse(text: str) -> ast.Query:
    """Parse a LogQL query; raise LogQLParseError naming where it stops being LogQL."""
    if not text.strip():
        raise LogQLParseError("parse error: empty query")
    try:
        tree = _lark().parse(text)
        result: ast.Query = _ToAst().transform(tree)
    except VisitError as exc:
        if isinstance(exc.orig_exc, LogQLParseError):
            raise LogQLParseError(f"parse error: {exc.orig_exc}") from exc
        raise
    except UnexpectedCharacters as exc:
        raise LogQLParseError(
            f"parse error at line {exc.line}, col {exc.column}: unexpected character "
            f"{text[exc.pos_in_stream or 0]!r}"
        ) from exc
    except UnexpectedInput as exc:
        token = getattr(exc, "token", None)
        what = f"unexpected {str(token)!r}" if token else "unexpected end of query"
        if token is not None and token.type == "$END":
            what = "unexpected end of query"
        raise LogQLParseError(
            f"parse error at line {exc.line}, col {exc.column}: syntax error: {what}"
        ) from exc
    except LarkError as exc:
        raise LogQLParseError(f"parse error: {exc}") from exc
    return result
