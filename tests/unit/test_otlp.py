from __future__ import annotations

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from sentio.otlp import Point, encode_gauges


def attrs(dp: object) -> dict[str, object]:
    out = {}
    for kv in dp.attributes:  # type: ignore[attr-defined]
        field = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, field)
    return out


def test_encoding_decodes_to_every_point_with_its_own_timestamp() -> None:
    points = [
        Point("a.temp", 21.5, 1_000, {"device": "d1", "n": 3, "ok": True}, "Cel", "temperature"),
        Point("a.score", 0.25, 2_000, {"device": "d1"}),
        Point("a.temp", 22.5, 3_000, {"device": "d2", "ratio": 0.5}, "Cel"),
        Point("a.temp", 23.5, 4_000, {"device": "d1", "n": 3, "ok": True}, "Cel"),
    ]
    request = ExportMetricsServiceRequest.FromString(
        encode_gauges({"service.name": "svc", "pid": 7}, points, "my.scope")
    )
    (rm,) = request.resource_metrics
    assert attrs(rm.resource) == {"pid": 7, "service.name": "svc"}
    (sm,) = rm.scope_metrics
    assert sm.scope.name == "my.scope"
    # unit-less first (a VictoriaMetrics quirk), then in first-seen order
    assert [(m.name, m.unit) for m in sm.metrics] == [("a.score", ""), ("a.temp", "Cel")]
    temp = sm.metrics[1]
    assert temp.description == "temperature"
    got = [(dp.time_unix_nano, dp.as_double, attrs(dp)) for dp in temp.gauge.data_points]
    assert got == [
        (1_000, 21.5, {"device": "d1", "n": 3, "ok": True}),
        (3_000, 22.5, {"device": "d2", "ratio": 0.5}),
        (4_000, 23.5, {"device": "d1", "n": 3, "ok": True}),
    ]


def test_large_batches_decode_exactly() -> None:
    points = [
        Point("x", float(i), 10**18 + i, {"series": f"s{i % 1000}", "run": "r"})
        for i in range(40_000)
    ]
    body = encode_gauges({}, points)
    decoded = ExportMetricsServiceRequest.FromString(body)
    dps = decoded.resource_metrics[0].scope_metrics[0].metrics[0].gauge.data_points
    assert len(dps) == 40_000
    assert dps[39_999].time_unix_nano == 10**18 + 39_999 and dps[39_999].as_double == 39_999.0
