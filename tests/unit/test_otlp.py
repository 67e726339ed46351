from __future__ import annotations

import struct

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from sentio.otlp import GaugeEncoder, Point, _varint, encode_gauges


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


def _samples(body: bytes) -> list[tuple[str, str, int, float, tuple[tuple[str, object], ...]]]:
    request = ExportMetricsServiceRequest.FromString(body)
    return [
        (m.name, m.unit, dp.time_unix_nano, dp.as_double, tuple(sorted(attrs(dp).items())))
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
        for dp in m.gauge.data_points
    ]


def test_the_streaming_encoder_says_what_encode_gauges_says() -> None:
    metrics = (("v", "V"), ("state", ""), ("t", "Cel"))
    attributes = {"device": "m1", "unit_id": 3}
    encoder = GaugeEncoder({"service.name": "svc"}, "sentio.collector")
    encoder.add_many(metrics, [230.5, True, 21], 1_000, attributes)
    encoder.add("v", "V", 231.0, 2_000, {"device": "m2"})
    encoder.add_many(metrics, [229.0, 0, -3.5], 3_000, attributes)
    assert encoder.count == 7
    body = encoder.take()
    points = [
        Point("v", 230.5, 1_000, attributes, "V"), Point("state", 1.0, 1_000, attributes),
        Point("t", 21.0, 1_000, attributes, "Cel"), Point("v", 231.0, 2_000, {"device": "m2"}, "V"),
        Point("v", 229.0, 3_000, attributes, "V"), Point("state", 0.0, 3_000, attributes),
        Point("t", -3.5, 3_000, attributes, "Cel"),
    ]  # fmt: skip
    expected = encode_gauges({"service.name": "svc"}, points, "sentio.collector")
    assert sorted(_samples(body)) == sorted(_samples(expected))
    request = ExportMetricsServiceRequest.FromString(body)
    sm = request.resource_metrics[0].scope_metrics[0]
    assert sm.metrics[0].unit == "", "unit-less metrics come first"
    assert attrs(request.resource_metrics[0].resource) == {"service.name": "svc"}
    assert encoder.count == 0 and _samples(encoder.take()) == [], "take empties the encoder"


def test_a_batch_with_a_value_that_is_no_number_encodes_nothing() -> None:
    encoder = GaugeEncoder({}, "s")
    with pytest.raises(struct.error):
        encoder.add_many((("a", ""), ("b", "")), [1.0, "on"], 1, {})  # type: ignore[list-item]
    assert encoder.count == 0 and _samples(encoder.take()) == []


def test_varints_match_the_protobuf_encoding() -> None:
    from google.protobuf.internal.encoder import _VarintBytes

    for value in [*range(0, 20_000, 7), 0x3FFF, 0x4000, 2**21, 2**35 + 5, 2**63]:
        assert _varint(value) == _VarintBytes(value), value
