"""The fleet benchmark's pure pieces: device layout, config, counting drops and poll lag."""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import aiohttp
import pytest
from sentio.collectors.registry import build

from sentio.bench.fleet import (
    SEQ,
    collector_config,
    percentile,
    poll_lags,
    served_by_device,
    shortfall,
    split,
)
from sentio.bench.fleet_sim import REGISTERS, SEQ_MODULO, Fleet
from sentio.config import ConnectorInstanceConfig, SentioConfig


def test_devices_fill_connections_of_a_hundred_and_the_rest_goes_last() -> None:
    assert split(1000) == [100] * 10
    assert split(250) == [100, 100, 50]
    assert split(20) == [20]


def test_the_collector_config_validates_and_reads_a_device_in_one_request(tmp_path: Path) -> None:
    data = collector_config(tmp_path, 8428, 4318, [5020, 5021], [100, 3], "abc", 1.0)
    config = SentioConfig.model_validate(data)
    assert [c.name for c in config.connectors] == ["fleet-abc-000", "fleet-abc-001"]
    assert [len(c.config["devices"]) for c in config.connectors] == [100, 3]
    assert config.endpoint("traces") == "http://127.0.0.1:4318/v1/traces"
    assert config.endpoint("metrics").startswith("http://127.0.0.1:8428/")
    connector = build(ConnectorInstanceConfig.model_validate(data["connectors"][1]), "c")
    plan = connector.plan("c001u003")  # type: ignore[attr-defined]
    assert len(plan) == 1
    assert [f.name for f in plan[0].fields][:2] == [SEQ, "v01"]
    assert len(plan[0].fields) == REGISTERS


def test_the_simulator_counts_reads_from_register_zero_per_server_and_unit() -> None:
    fleet = Fleet(3)
    first = fleet.registers(0, 2, 0, REGISTERS)
    assert len(first) == REGISTERS and first[0] == 1
    assert fleet.registers(0, 2, 0, 1) == [2]
    assert fleet.registers(0, 2, 5, 2) == first[5:7], "a read elsewhere is not counted"
    assert fleet.registers(1, 2, 0, 1) == [1], "another server's unit 2 is another device"
    assert fleet.reads == {(0, 2): 2, (1, 2): 1}
    fleet.reads[(0, 2)] = SEQ_MODULO - 1
    assert fleet.registers(0, 2, 0, 1) == [0], "the counter wraps at 16 bits"


def test_unit_ids_beyond_modbus_range_are_refused() -> None:
    with pytest.raises(ValueError, match=r"1\.\.247"):
        Fleet(248)


def test_reads_by_port_and_unit_map_to_device_names() -> None:
    served = served_by_device({"5021/7": 3, "5020/1": 9}, [5020, 5021])
    assert served == {"c001u007": 3, "c000u001": 9}


def test_only_the_poll_in_flight_at_the_stop_may_be_missing() -> None:
    per = REGISTERS
    assert shortfall({"a": 10 * per}, {"a": 10}, {"a": 11}) == (0, 0)
    assert shortfall({"a": 10 * per}, {"a": 10}, {"a": 12}) == (per, 0)
    assert shortfall({"a": 9 * per}, {"a": 10}, {"a": 10}) == (per, 0), "a gap inside"
    assert shortfall({"a": 10 * per - 3}, {"a": 10}, {"a": 10}) == (3, 0), "a partial poll"
    assert shortfall({}, {}, {"b": 5}) == (4 * per, 0), "a device that never landed"
    assert shortfall({"a": 11 * per}, {"a": 10}, {"a": 10}) == (0, per)


def test_poll_lag_is_the_gap_between_consecutive_polls_minus_the_interval() -> None:
    device = ([1.0, 2.0, 3.0, 5.0], [100.0, 101.25, 102.25, 104.5])
    lags = poll_lags([device], 1.0, (0.0, 1e9))
    assert lags == pytest.approx([0.25, 0.0]), "3 -> 5 skips a dropped poll, not a late one"
    assert poll_lags([device], 1.0, (101.0, 102.0)) == pytest.approx([0.0])


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 0.5) == 50.0
    assert percentile([3.0], 0.99) == 3.0
    assert math.isnan(percentile([], 0.99))


async def test_the_sink_answers_400_to_what_is_not_an_otlp_export() -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from sentio.bench.fleet import Sink
    from tests.conftest import free_port

    export = ExportTraceServiceRequest()
    export.resource_spans.add().scope_spans.add().spans.add(name="poll")
    good = export.SerializeToString()
    cases = [  # found by fuzzing: the first and the corrupt gzip and deflate were a 500
        (b"\xff\xff\xff", {}, 400, "not an OTLP traces export"),
        (b"garbage", {"Content-Encoding": "gzip"}, 400, "the body is not gzip"),
        (b"garbage", {"Content-Encoding": "deflate"}, 400, "the body is not deflate"),
        (gzip.compress(good)[:-4], {"Content-Encoding": "gzip"}, 400, "ends early"),
        (good, {"Content-Encoding": "br"}, 400, "is not gzip, deflate or identity"),
        (gzip.compress(good), {"Content-Encoding": "gzip"}, 200, ""),
        (good, {}, 200, ""),
    ]
    port = free_port()
    sink = Sink()
    async with (
        sink.serving(port),
        aiohttp.ClientSession(auto_decompress=False) as session,
    ):
        for body, headers, status, reason in cases:
            url = f"http://127.0.0.1:{port}/v1/traces"
            async with session.post(url, data=body, headers=headers) as resp:
                assert (resp.status, reason in await resp.text()) == (status, True), body
    assert (sink.requests, sink.spans, sink.rejected) == (2, 2, 5)
