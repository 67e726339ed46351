"""The parsed form of a LogQL query: log queries, metric queries and their operators."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Matcher:
    """One stream matcher: ``name op "value"`` with op one of = != =~ !~."""

    name: str
    op: str
    value: str


@dataclass(frozen=True)
class LineFilter:
    """A line filter: ``op`` one of |= != |~ !~, any of ``values`` matches."""

    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Parser:
    """A parser stage: json, logfmt, regexp, pattern or unpack, with its expression or params."""

    kind: str
    expression: str | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Compare:
    """A label comparison; ``kind`` is string, number, duration, bytes or ip."""

    name: str
    op: str
    value: str
    kind: str


@dataclass(frozen=True)
class BoolFilter:
    """Label filters joined by ``and`` or ``or``."""

    op: str
    left: LabelExpr
    right: LabelExpr


LabelExpr = Compare | BoolFilter


@dataclass(frozen=True)
class LabelFilter:
    """A label filter stage."""

    expr: LabelExpr


@dataclass(frozen=True)
class LineFormat:
    """``line_format "template"``."""

    template: str


@dataclass(frozen=True)
class LabelFormat:
    """``label_format dst=src, dst="template"``; ``template`` says which form each is."""

    items: tuple[tuple[str, str, bool], ...]


@dataclass(frozen=True)
class Drop:
    """``drop`` (or ``keep`` when ``keep``) of labels, optionally with matchers."""

    names: tuple[str, ...]
    matchers: tuple[Matcher, ...] = ()
    keep: bool = False


@dataclass(frozen=True)
class Decolorize:
    """``decolorize``: strip ANSI colour sequences from the line."""


@dataclass(frozen=True)
class Unwrap:
    """``unwrap [conv(]label[)]``: take sample values from a label."""

    name: str
    conversion: str = ""


@dataclass(frozen=True)
class Unsupported:
    """A stage the grammar knows and the translator refuses, by name."""

    construct: str


Stage = (
    LineFilter
    | Parser
    | LabelFilter
    | LineFormat
    | LabelFormat
    | Drop
    | Decolorize
    | Unwrap
    | Unsupported
)


@dataclass(frozen=True)
class LogQuery:
    """A stream selector and its pipeline."""

    matchers: tuple[Matcher, ...]
    stages: tuple[Stage, ...] = ()


@dataclass(frozen=True)
class Grouping:
    """``by (labels)`` or ``without (labels)``."""

    without: bool
    labels: tuple[str, ...]


@dataclass(frozen=True)
class RangeAgg:
    """A range aggregation such as ``rate({...}[5m])``."""

    fn: str
    query: LogQuery
    range_ns: int
    offset_ns: int = 0
    param: float | None = None
    grouping: Grouping | None = None


@dataclass(frozen=True)
class VectorAgg:
    """A vector aggregation such as ``sum by (x) (...)``."""

    op: str
    inner: Expr
    grouping: Grouping | None = None
    param: float | None = None


@dataclass(frozen=True)
class Number:
    """A scalar literal."""

    value: float


@dataclass(frozen=True)
class BinOp:
    """A binary operator between two expressions."""

    op: str
    left: Expr
    right: Expr
    bool_modifier: bool = False
    matching: tuple[str, ...] | None = field(default=None)
    # ``ignoring (...)`` instead of ``on (...)``; ``group`` is "left", "right" or ""
    ignoring: bool = False
    group: str = ""
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Vector:
    """``vector(s)``: one series without labels, ``s`` at every step."""

    value: float


@dataclass(frozen=True)
class LabelReplace:
    """``label_replace(inner, dst, replacement, src, regex)``."""

    inner: Expr
    dst: str
    replacement: str
    src: str
    regex: str


@dataclass(frozen=True)
class UnsupportedExpr:
    """An expression the grammar knows and the translator refuses, by name."""

    construct: str


Expr = RangeAgg | VectorAgg | Number | Vector | LabelReplace | BinOp | UnsupportedExpr
Query = LogQuery | Expr
