"""The fleet benchmark's pieces: layout, config, drops and poll lag, settling, CPU binding."""

from __future__ import annotations

import gzip
import math
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from sentio.collectors.registry import build

from sentio.bench.fleet import (
    SEQ,
    Backend,
    FleetReport,
    _settled_total,
    collector_config,
    parse_cpus,
    percentile,
    poll_lags,
    served_by_device,
    shortfall,
    split,
)
from sentio.bench.fleet_sim import REGISTERS, SEQ_MODULO, Fleet
from sentio.bench.ingest import process
from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.errors import SentioError


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


def test_telegraf_polls_every_device_in_one_request_at_the_same_interval() -> None:
    import tomllib

    from sentio.bench.fleet import telegraf_fields
    from sentio.bench.telegraf import FleetConnection, render_fleet_config

    connections = [FleetConnection(5020, [(1, "c000u001"), (2, "c000u002")]),
                   FleetConnection(5021, [(1, "c001u001")])]  # fmt: skip
    text = render_fleet_config(connections, telegraf_fields(), "http://vm/otlp", "tg-1", 1.0)
    conf = tomllib.loads(text)
    assert conf["agent"]["interval"] == "1000ms"
    assert conf["agent"]["precision"] == "1ms", "timestamps as fine as the collector's"
    assert conf["global_tags"] == {"instance": "tg-1"}
    assert [i["controller"] for i in conf["inputs"]["modbus"]] == [
        "tcp://127.0.0.1:5020", "tcp://127.0.0.1:5021",
    ]  # fmt: skip
    requests = conf["inputs"]["modbus"][0]["request"]
    assert [(r["slave_id"], r["tags"]["device"]) for r in requests] == [
        (1, "c000u001"), (2, "c000u002"),
    ]  # fmt: skip
    fields = requests[0]["fields"]
    assert [f["address"] for f in fields] == list(range(REGISTERS)), "one contiguous request"
    assert fields[0] == {"address": 0, "name": SEQ, "type": "UINT16"}
    assert fields[1]["scale"] == pytest.approx(0.1)
    outputs = conf["outputs"]["opentelemetry"]
    assert [o["service_address"] for o in outputs] == ["http://vm/otlp"] * 2
    names = [[i["name"]] for i in conf["inputs"]["modbus"]]
    assert [o["tagpass"]["name"] for o in outputs] == names, "an output per connection"


def _report(reader: str, cpu: float, rss_kib: float, p99: float) -> FleetReport:
    return FleetReport(
        devices=100, connections=1, poll_interval_s=1.0, window_s=60.0, readings_per_s=2000,
        expected_readings_per_s=2000, poll_lag_p50_s=0.0, poll_lag_p99_s=p99,
        poll_lag_max_s=p99 * 2, collector_rss_mb=rss_kib * 100 / 1024, collector_rss_end_mb=1.0,
        collector_cores=0.1, cpu_s_per_100k=cpu, readings=1, dropped=0, duplicates=0,
        devices_landed=100, spans_per_poll=1.0, reader=reader, rss_per_device_kib=rss_kib,
    )  # fmt: skip


def test_each_ratio_pairs_a_collector_run_with_the_telegraf_run_after_it() -> None:
    from sentio.bench.fleet_baseline import compare

    ours = [_report("sentio", c, 40.0, 0.2) for c in (1.0, 3.0, 2.0)]
    theirs = [_report("telegraf", c, 80.0, 0.1) for c in (2.0, 2.0, 1.0)]
    result = compare(ours, theirs)
    assert (result.cpu_ratio_vs_telegraf, result.cpu_ratio_min, result.cpu_ratio_max) == (
        1.5, 0.5, 2.0,
    )  # fmt: skip
    assert result.rss_per_device_ratio_vs_telegraf == 0.5
    assert result.poll_lag_p99_ratio_vs_telegraf == 2.0
    assert result.sentio.cpu_s_per_100k == 2.0 and result.telegraf is not None
    assert result.telegraf.cpu_s_per_100k == 2.0
    assert result.repetitions == 3 and len(result.runs) == 6
    alone = compare(ours, [])
    assert alone.telegraf is None and alone.cpu_ratio_vs_telegraf is None


class _Pending(Backend):
    """A VictoriaMetrics whose acknowledged samples are searchable only once flushed."""

    def __init__(self) -> None:
        self.acknowledged, self.searchable = 100, 60

    async def flush(self) -> None:
        self.searchable = self.acknowledged

    async def total(self, query: str, at: float) -> int:
        return self.searchable


async def test_the_settled_total_counts_every_acknowledged_sample() -> None:
    # two plain reads agree on 60 while 40 acknowledged samples wait in the pending rows
    assert await _settled_total(_Pending(), "sum(count_over_time(x[1m]))", 0.0) == 100


def test_reader_cpus_are_parsed_and_a_cpu_this_process_cannot_use_is_named() -> None:
    usable = sorted(os.sched_getaffinity(0))
    assert parse_cpus("") == ()
    assert parse_cpus(f"{usable[-1]},{usable[0]}") == tuple(sorted({usable[0], usable[-1]}))
    with pytest.raises(SentioError, match="'x' is not a CPU number"):
        parse_cpus("0,x")
    with pytest.raises(SentioError, match="CPU 4096 is not one this process may run on"):
        parse_cpus("4096")


def test_a_reader_bound_to_one_cpu_runs_there_and_the_bench_stays_free(tmp_path: Path) -> None:
    cpu = max(os.sched_getaffinity(0))
    before = os.sched_getaffinity(0)
    script = "import os; print(sorted(os.sched_getaffinity(0)), flush=True)"
    log = tmp_path / "child.log"
    with process([sys.executable, "-c", script], log, 10.0, (cpu,)) as proc:
        assert proc.wait(10) == 0
    assert log.read_text().strip() == f"[{cpu}]"
    assert os.sched_getaffinity(0) == before
