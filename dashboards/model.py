"""What a dashboard and a rule are, independent of where they are rendered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# traces: a Jaeger tag search (`key=value`), for the traces of a panel
Language = Literal["promql", "logsql", "traces"]
PanelKind = Literal["timeseries", "stat", "table", "logs", "traces"]


@dataclass(frozen=True)
class Query:
    """One query of a panel; ``legend`` may name labels as ``{{label}}``.

    ``optional`` names the labels it groups by that some of its series lack by design.
    """

    expr: str
    legend: str = ""
    language: Language = "promql"
    instant: bool = False
    optional: tuple[str, ...] = ()


@dataclass(frozen=True)
class Threshold:
    """A value from which a panel turns ``color``."""

    value: float
    color: str


@dataclass(frozen=True)
class Link:
    """A link from a panel (or a table cell) to another dashboard, keeping the device."""

    title: str
    dashboard: str


@dataclass(frozen=True)
class Panel:
    """One panel: what it shows, in which unit, and when it turns amber or red."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: PanelKind = "timeseries"
    width: int = 6
    thresholds: tuple[Threshold, ...] = ()
    links: tuple[Link, ...] = ()
    long_range: bool = False

    @property
    def language(self) -> Language:
        """Return the language of the panel's queries (a panel does not mix them)."""
        return self.queries[0].language


@dataclass(frozen=True)
class Row:
    """A titled row of panels (widths add up to 12 per line)."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Variable:
    """A dashboard variable whose values come from a label of a metric."""

    name: str
    label: str
    metric: str
    multi: bool = False


@dataclass(frozen=True)
class Dashboard:
    """A dashboard: a stable uid, a title, rows, and the variables its queries use."""

    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]
    variables: tuple[Variable, ...] = ()
    tags: tuple[str, ...] = ("sentio",)

    def panels(self) -> list[Panel]:
        """Return every panel, row by row."""
        return [panel for row in self.rows for panel in row.panels]


@dataclass(frozen=True)
class AlertRule:
    """An alerting rule: fires when ``expr`` has results for ``for_``."""

    name: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook: str
    dashboard: str
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordingRule:
    """A recording rule: ``expr`` evaluated on the group's interval, stored as ``record``."""

    record: str
    expr: str
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RuleGroup:
    """A vmalert rule group: one datasource (PromQL or LogsQL) and one interval."""

    name: str
    language: Language
    rules: tuple[AlertRule | RecordingRule, ...]
    interval: str | None = None
