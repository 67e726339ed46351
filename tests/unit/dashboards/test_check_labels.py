from __future__ import annotations

from sentio.dashboards.catalog import DASHBOARDS
from sentio.dashboards.check import grouped_labels, missing_labels
from sentio.dashboards.model import Query


def test_grouped_labels_come_from_the_outer_grouping_and_the_legend() -> None:
    query = Query(
        "histogram_quantile(0.99, sum by (le, connector) (rate(x_bucket[5m])))", "{{ instance }}"
    )
    assert grouped_labels(query) == ("connector", "instance")
    assert grouped_labels(Query("sum(rate(x[5m]))", "{{__name__}}")) == ()
    assert grouped_labels(Query("topk(3, max by (device) (x))")) == ("device",)
    assert grouped_labels(Query("count(max by (device) (x) > 1) or vector(0)")) == ()
    assert grouped_labels(Query("max by (device, metric) (x)", optional=("metric",))) == ("device",)
    logs = Query("error | stats by (device, connector) count() as n", language="logsql")
    assert grouped_labels(logs) == ("device", "connector")


def test_a_result_without_a_grouped_label_is_named() -> None:
    rows = [{"connector": "modbus"}, {"instance": "a"}, {"connector": ""}]
    assert missing_labels(("connector",), rows) == ("connector",)
    assert missing_labels(("connector",), rows[:1]) == ()
    assert missing_labels(("connector",), []) == ()


def test_the_per_connector_panels_group_by_connector() -> None:
    titles = {
        p.title
        for d in DASHBOARDS
        for p in d.panels()
        if any("connector" in grouped_labels(q) for q in p.queries)
    }
    assert {"Readings per second by connector", "Connector errors", "Poll latency p99"} <= titles
