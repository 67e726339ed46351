"""Render dashboards for VictoriaMetrics' built-in UI (`-vmui.customDashboardsPath`).

vmui draws PromQL graphs only and has no variables: a variable matches every value there, and
log and trace panels are left to Grafana and to VictoriaLogs' and Jaeger's own UIs.
"""

from __future__ import annotations

import json
import re
from typing import Any

from sentio.dashboards.model import Dashboard, Panel

UNITS = {"none": "", "short": "", "reqps": "/s", "s": "s", "percentunit": "%"}
VARIABLE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _expr(dashboard: Dashboard, expr: str) -> str:
    names = {v.name for v in dashboard.variables}
    return VARIABLE.sub(lambda m: ".+" if m[1] in names else m[0], expr)


def _panel(dashboard: Dashboard, panel: Panel) -> dict[str, Any]:
    return {
        "title": panel.title,
        "description": panel.description,
        "unit": UNITS.get(panel.unit, panel.unit),
        "expr": [_expr(dashboard, q.expr) for q in panel.queries],
        "alias": [q.legend for q in panel.queries],
        "showLegend": True,
        "width": panel.width,
    }


def render(dashboard: Dashboard) -> dict[str, Any]:
    """Return ``dashboard`` as vmui's dashboard JSON."""
    rows = []
    for row in dashboard.rows:
        panels = [_panel(dashboard, p) for p in row.panels if p.language == "promql"]
        if panels:
            rows.append({"title": row.title, "panels": panels})
    return {"title": dashboard.title, "rows": rows}


def render_text(dashboard: Dashboard) -> str:
    """Return the file text of ``dashboard`` for vmui."""
    return json.dumps(render(dashboard), indent=2, ensure_ascii=False) + "\n"
