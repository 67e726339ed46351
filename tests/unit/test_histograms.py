"""The histogram counted by hand exports what the SDK's explicit-bucket histogram would."""

from __future__ import annotations

import random

from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from sentio.histograms import OVERFLOW_ATTRIBUTES, Histogram
from sentio.telemetry import MetricExporter

BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]


def _sdk_points(values: list[tuple[float, str]]) -> dict[str, HistogramDataPoint]:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    sdk = provider.get_meter("t").create_histogram(
        "d", unit="s", explicit_bucket_boundaries_advisory=BOUNDS
    )
    for value, device in values:
        sdk.record(value, {"instance": "a", "device": device})
    data = reader.get_metrics_data()
    assert data is not None
    points = data.resource_metrics[0].scope_metrics[0].metrics[0].data.data_points
    return {str(p.attributes["device"]): p for p in points}  # type: ignore[index, union-attr]


def test_the_points_are_the_sdks_for_the_same_records() -> None:
    rng = random.Random(7)
    # values on the boundaries too: each belongs to the bucket it closes, as in the SDK
    values = [(rng.choice([*BOUNDS, rng.expovariate(20), 45.0]), f"d{rng.randrange(3)}")
              for _ in range(500)]  # fmt: skip
    mine = Histogram("d", "s", "", BOUNDS, 100)
    for value, device in values:
        mine.record(value, device, {"instance": "a", "device": device})
    metric = mine.metric()
    assert metric is not None and metric.name == "d" and metric.unit == "s"
    got = {str(p.attributes["device"]): p for p in metric.data.data_points}  # type: ignore[index, union-attr]
    want = _sdk_points(values)
    assert got.keys() == want.keys() == {"d0", "d1", "d2"}
    for device, point in got.items():
        sdk = want[device]
        assert isinstance(point, HistogramDataPoint)
        assert list(point.bucket_counts) == list(sdk.bucket_counts), device
        assert point.count == sdk.count and abs(point.sum - sdk.sum) < 1e-9
        assert (point.min, point.max) == (sdk.min, sdk.max)
        assert list(point.explicit_bounds) == list(sdk.explicit_bounds)
        assert dict(point.attributes) == dict(sdk.attributes)  # type: ignore[arg-type]
    assert metric.data.aggregation_temporality.name == "CUMULATIVE"  # type: ignore[union-attr]


def test_sets_past_the_limit_go_to_one_overflow_point() -> None:
    mine = Histogram("d", "s", "", BOUNDS, 2)
    for device in ["a", "b", "c", "d", "a"]:
        mine.record(0.02, device, {"device": device})
    metric = mine.metric()
    assert metric is not None
    points = {tuple(sorted(p.attributes.items())): p.count for p in metric.data.data_points}  # type: ignore[union-attr]
    assert points == {
        (("device", "a"),): 2,
        (("device", "b"),): 1,
        tuple(OVERFLOW_ATTRIBUTES.items()): 2,
    }


def test_nothing_recorded_is_no_metric() -> None:
    assert Histogram("d", "s", "", BOUNDS, 10).metric() is None


def test_the_exporter_adds_the_kept_metric_under_its_scope() -> None:
    resource = Resource.create({"service.name": "t"})
    exporter = MetricExporter(resource, endpoint="http://127.0.0.1:9/v1/metrics")
    mine = Histogram("sentio.collector.poll.duration", "s", "Time one poll took.", BOUNDS, 10)
    exporter.sources.append((InstrumentationScope("sentio.collector"), mine.metric))
    assert exporter.with_kept(MetricsData([])).resource_metrics == []  # nothing recorded yet
    mine.record(0.3, "x", {"device": "x"})
    reader = InMemoryMetricReader()
    provider = MeterProvider(resource=resource, metric_readers=[reader])
    counter = provider.get_meter("sentio.collector").create_counter("c")
    counter.add(1)
    data = reader.get_metrics_data()
    assert data is not None
    request = encode_metrics(exporter.with_kept(data))
    (resource_metrics,) = request.resource_metrics
    names = {(s.scope.name, m.name) for s in resource_metrics.scope_metrics for m in s.metrics}
    assert names == {("sentio.collector", "c"),
                     ("sentio.collector", "sentio.collector.poll.duration")}  # fmt: skip
    kept = next(m for s in resource_metrics.scope_metrics for m in s.metrics
                if m.name.endswith("duration"))  # fmt: skip
    (point,) = kept.histogram.data_points
    assert list(point.bucket_counts) == [0] * 6 + [1] + [0] * 6 and point.count == 1
    # an export with no points of the SDK's still carries the kept metric, on the resource
    alone = exporter.with_kept(MetricsData([]))
    assert alone.resource_metrics[0].resource is resource
