"""The ingest benchmark's pieces: meter layout, the two readers' configs, /proc figures."""

from __future__ import annotations

import os
import struct
import tomllib

from sentio.collectors.registry import build

from sentio.bench.ingest import _split, collector_config
from sentio.bench.meter import FLOATS, INT_SCALE, INTS, READINGS, REGISTERS, block
from sentio.bench.procstat import cpu_seconds, peak_rss_mb
from sentio.bench.telegraf import render_config
from sentio.config import ConnectorInstanceConfig, SentioConfig


def test_a_meter_block_is_one_request_of_floats_then_scaled_ints() -> None:
    words = block(3, 1_000.0)
    assert len(words) == REGISTERS <= 125
    first = struct.unpack(">f", struct.pack(">HH", words[0], words[1]))[0]
    assert 225 < first < 235
    assert 40 < words[2 * FLOATS] * INT_SCALE < 60


def test_units_are_dealt_over_connections_without_loss() -> None:
    groups = _split(10, 4)
    assert len(groups) == 4
    assert sorted(u for g in groups for u in g) == list(range(1, 11))


def test_the_collector_config_validates_and_reads_a_meter_in_one_request() -> None:
    data = collector_config(SentioConfig(), 5020, [[1, 3], [2]], "abc")
    config = SentioConfig.model_validate(data)
    assert [c.name for c in config.connectors] == ["bench-abc-0", "bench-abc-1"]
    connector = build(ConnectorInstanceConfig.model_validate(data["connectors"][0]), "c")  # type: ignore[index]
    plan = connector.plan("meter-1")  # type: ignore[attr-defined]
    assert len(plan) == 1
    assert sum(len(r.fields) for r in plan) == READINGS


def test_the_telegraf_config_is_valid_toml_with_every_unit_and_field() -> None:
    text = render_config(5020, [[1, 3], [2]], "http://127.0.0.1:8428/opentelemetry/v1/metrics", "t")
    conf = tomllib.loads(text)
    inputs = conf["inputs"]["modbus"]
    assert [len(i["request"]) for i in inputs] == [2, 1]
    request = inputs[0]["request"][0]
    assert len(request["fields"]) == FLOATS + INTS
    assert request["fields"][FLOATS]["address"] == 2 * FLOATS
    outputs = conf["outputs"]["opentelemetry"]
    assert [o["tagpass"]["name"] for o in outputs] == [["meters-0"], ["meters-1"]]
    assert outputs[0]["service_address"].endswith("/v1/metrics")
    assert conf["global_tags"]["instance"] == "t"


def test_proc_figures_of_this_process_are_plausible() -> None:
    assert cpu_seconds(os.getpid()) > 0
    assert peak_rss_mb(os.getpid()) > 10


def test_the_summary_pairs_each_sentio_run_with_the_telegraf_run_after_it() -> None:
    from sentio.bench.ingest import Phase, Timing, summarize

    sentio = [Phase(100_000, 10.0, cpu, rss) for cpu, rss in [(0.5, 90), (0.4, 95), (0.6, 92)]]
    telegraf = [Phase(100_000, 10.0, cpu, 50.0) for cpu in [1.0, 0.5, 1.0]]
    report = summarize(sentio, telegraf, Timing(0.01, 1.0, 10.0), units=16, connections=4)
    assert report.cpu_s_per_100k == 0.5 and report.cpu_s_per_100k_min == 0.4
    assert report.telegraf_cpu_s_per_100k == 1.0
    assert (report.ratio_min, report.ratio, report.ratio_max) == (0.5, 0.6, 0.8)
    assert report.readings_per_cpu_s == 200_000 and report.peak_rss_mb == 95.0
    order = [(r["reader"], r["repetition"]) for r in report.runs]
    assert order == [(reader, i) for i in (1, 2, 3) for reader in ("sentio", "telegraf")]
    alone = summarize(sentio, [], Timing(0.01, 1.0, 10.0), units=16, connections=4)
    assert alone.ratio is None and alone.telegraf_cpu_s_per_100k is None


def test_telegrafs_log_gives_its_drops_slow_gathers_and_errors() -> None:
    from sentio.bench.telegraf import read_log

    text = (
        "2026-12-03T13:00:00Z I! Starting Telegraf 1.39.2\n"
        "2026-12-03T13:00:01Z W! [outputs.opentelemetry] Metric buffer overflow; 12 metrics "
        "have been dropped\n"
        "2026-12-03T13:00:02Z W! [outputs.opentelemetry] Metric buffer overflow; 3 metrics "
        "have been dropped\n"
        "2026-12-03T13:00:02Z W! [inputs.modbus::meters-0] Collection took longer than "
        "expected; not complete after interval of 10ms\n"
        "2026-12-03T13:00:03Z E! [inputs.modbus::meters-1] Error in plugin: timeout\n"
    )
    lost = read_log(text)
    assert (lost.dropped_metrics, lost.slow_gathers, lost.errors) == (15, 1, 1)
    assert read_log("") == type(lost)(0, 0, 0)


def test_the_telegraf_config_logs_warnings_where_its_drops_are() -> None:
    conf = tomllib.loads(render_config(5020, [[1]], "http://127.0.0.1:8428/v1/metrics", "t"))
    assert conf["agent"]["quiet"] is False


def test_the_collectors_summary_line_gives_its_drops() -> None:
    from sentio.bench.ingest import sentio_dropped

    line = (
        "collecting from 4 connector(s)\nstopped: 500 readings sent, 0 spooled, 7 dropped "
        "(1 requests), 0 request(s) waiting in the spool, 0 names refused past the caps "
        "(0 readings), 0 incoming messages dropped\n"
    )
    assert sentio_dropped(line) == 7
    assert sentio_dropped("killed before its summary") is None


def test_inherited_otel_variables_are_recorded_with_headers_masked() -> None:
    from sentio.bench.ingest import otel_environment

    environ = {
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer abcdefghijkl",
        "PATH": "/usr/bin",
    }
    assert otel_environment(environ) == {
        "OTEL_EXPORTER_OTLP_HEADERS": "***",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    }


def test_the_summary_totals_each_readers_drops() -> None:
    from sentio.bench.ingest import Phase, Timing, summarize

    sentio = [Phase(100, 1.0, 0.1, 90, dropped_readings=d) for d in (0, 5, None)]
    telegraf = [Phase(100, 1.0, 0.2, 50, 200, errors=1, slow_gathers=2) for _ in range(3)]
    report = summarize(sentio, telegraf, Timing(0.01, 1.0, 1.0), units=16, connections=4)
    assert report.dropped_readings == 5 and report.telegraf_dropped_readings == 600
    assert (report.telegraf_errors, report.telegraf_slow_gathers) == (3, 6)
    assert report.runs[1]["dropped_readings"] == 200 and report.runs[1]["errors"] == 1
    assert "errors" not in report.runs[0]
