"""The Loki API's shapes, status codes and error bodies; live tail over WebSocket."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import aiohttp
import pytest
import requests

from tests.integration.logql.conftest import LogqlEnv, send_otlp
from tests.integration.logql.dataset import COUNT, NS, Rec

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]
ALL = '{service_name=~"plant-.*"}'


def get(env: LogqlEnv, path: str, **params: Any) -> requests.Response:
    return requests.get(f"{env.api}/loki/api/v1/{path}", params=params, timeout=30)


def entries(resp: requests.Response) -> list[tuple[int, str]]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "success"
    assert body["data"]["resultType"] == "streams"
    out = []
    for s in body["data"]["result"]:
        assert isinstance(s["stream"], dict)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in s["stream"].items())
        for ts, line in s["values"]:
            assert isinstance(ts, str) and ts.isdigit(), ts
            assert isinstance(line, str)
            out.append((int(ts), line))
    return out


def test_streams_have_nanosecond_string_timestamps_and_loki_labels(logql_env: LogqlEnv) -> None:
    env = logql_env
    resp = get(env, "query_range", query='{device="pump-2"} |= "cycle"', start=env.start_ns,
               end=env.end_ns, limit=1000)  # fmt: skip
    got = entries(resp)
    want = [r for r in env.records if r.device == "pump-2" and "cycle" in r.body]
    assert want
    assert sorted(t for t, _ in got) == sorted(r.time_ns for r in want)
    stream = resp.json()["data"]["result"][0]["stream"]
    assert stream["service_name"] in ("plant-a", "plant-b")
    assert stream["host_name"] == "edge-1"
    assert stream["device"] == "pump-2"
    assert stream["detected_level"] in ("info", "warn", "error", "debug")
    assert "service.name" not in stream


def test_limit_and_direction(logql_env: LogqlEnv) -> None:
    env = logql_env
    times = sorted(r.time_ns for r in env.records)
    back = entries(get(env, "query_range", query=ALL, start=env.start_ns, end=env.end_ns, limit=5))
    assert [t for t, _ in back] == sorted(times[-5:], reverse=True)  # backward is the default
    fwd = entries(get(env, "query_range", query=ALL, start=env.start_ns, end=env.end_ns, limit=5,
                      direction="forward"))  # fmt: skip
    assert [t for t, _ in fwd] == times[:5]
    every = entries(get(env, "query_range", query=ALL, start=env.start_ns, end=env.end_ns,
                        limit=5000))  # fmt: skip
    assert len(every) == COUNT
    default = entries(get(env, "query_range", query=ALL, start=env.start_ns, end=env.end_ns))
    assert len(default) == 100 if COUNT > 100 else len(default) == COUNT


def test_start_end_since_and_interval(logql_env: LogqlEnv) -> None:
    env = logql_env
    recs = sorted(env.records, key=lambda r: r.time_ns)
    start, end = recs[10].time_ns, recs[20].time_ns
    got = entries(get(env, "query_range", query=ALL, start=start, end=end, direction="forward"))
    # Loki's start is inclusive and its end exclusive
    assert [t for t, _ in got] == [r.time_ns for r in recs[10:20]]
    rfc = entries(get(env, "query_range", query=ALL, direction="forward",
                      start=time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start // NS)) + "Z",
                      end=str(end / NS)))  # fmt: skip
    assert [t for t, _ in rfc] == [r.time_ns for r in recs[10:20]]
    since = entries(get(env, "query_range", query=ALL, since="1s", limit=1000))
    assert since == []  # nothing in the last second
    spaced = entries(get(env, "query_range", query=ALL, start=env.start_ns, end=env.end_ns,
                         interval="30s", direction="forward", limit=1000))  # fmt: skip
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(spaced)]
    assert spaced and all(g >= 30 * NS for g in gaps)
    assert len(spaced) == len(range(0, COUNT, 3))


def test_empty_results(logql_env: LogqlEnv) -> None:
    env = logql_env
    resp = get(env, "query_range", query='{service_name="nobody"}', start=env.start_ns,
               end=env.end_ns)  # fmt: skip
    assert resp.json() == {
        "status": "success",
        "data": {"resultType": "streams", "result": [], "stats": resp.json()["data"]["stats"]},
    }
    resp = get(env, "query", query='sum(count_over_time({service_name="nobody"}[5m]))',
               time=env.end_ns)  # fmt: skip
    assert resp.status_code == 200
    assert resp.json()["data"] == {"resultType": "vector", "result": [], "stats": {}}
    resp = get(env, "query_range", query='sum(count_over_time({service_name="nobody"}[1m]))',
               start=env.start_ns, end=env.end_ns, step="60s")  # fmt: skip
    assert resp.json()["data"]["resultType"] == "matrix"
    assert resp.json()["data"]["result"] == []


def test_metric_shapes(logql_env: LogqlEnv) -> None:
    env = logql_env
    resp = get(env, "query_range", query=f"sum(count_over_time({ALL}[1m]))",
               start=env.start_ns, end=env.end_ns, step=60)  # fmt: skip
    [series] = resp.json()["data"]["result"]
    assert series["metric"] == {}
    for t, v in series["values"]:
        assert isinstance(t, float | int) and isinstance(v, str)
        assert (round(t * NS) - env.start_ns) % (60 * NS) == 0
    assert sum(float(v) for _t, v in series["values"]) == COUNT
    resp = get(env, "query", query=f"sum by (device) (count_over_time({ALL}[30m]))",
               time=env.end_ns)  # fmt: skip
    data = resp.json()["data"]
    assert data["resultType"] == "vector"
    assert {s["metric"]["device"] for s in data["result"]} == {f"pump-{i}" for i in range(4)}
    assert all(s["value"][0] == env.end_ns / NS for s in data["result"])
    resp = get(env, "query", query="1 + 2 * 3", time=env.end_ns)
    assert resp.json()["data"]["resultType"] == "scalar"
    assert resp.json()["data"]["result"] == [env.end_ns / NS, "7"]


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"query": '{service_name="a"'}, "parse error at line 1"),
        ({"query": '{a="b"} | distinct x'}, "unsupported LogQL: distinct"),
        ({"query": '{a="b"} |= ip("1.1.1.1")'}, "unsupported LogQL: ip() line filter"),
        ({"query": '{a="b"}', "limit": "x"}, "invalid limit"),
        ({"query": '{a="b"}', "direction": "sideways"}, "invalid direction"),
        ({"query": '{a="b"}', "start": "yesterday"}, "invalid start"),
        ({"query": '{a="b"}', "start": "20", "end": "10"}, "end timestamp must not be before"),
        ({}, "query parameter is required"),
        (
            {"query": 'max by (x) (count_over_time({a="b"}[5m]))', "step": "60s"},
            "make the range equal the step",
        ),
        ({"query": 'sum(count_over_time({a="b"}[90s]))', "step": "60s"}, "or a multiple of it"),
        ({"query": 'sum(count_over_time({a="b"}[5m])) > 1', "step": "60s"}, "range [300s]"),
        ({"query": '{a="b"} | json | x > 1 | line_format "{{ .x | title }}"'}, "line_format"),
        ({"query": '{a="b"} |~ "("'}, "VictoriaLogs refused the translated query"),
    ],
)
def test_errors_are_loki_400s_naming_the_problem(
    logql_env: LogqlEnv, params: dict[str, str], needle: str
) -> None:
    resp = get(logql_env, "query_range", **params)
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert needle in resp.text


def test_instant_log_query_is_refused(logql_env: LogqlEnv) -> None:
    resp = get(logql_env, "query", query=ALL)
    assert resp.status_code == 400
    assert "log queries are not supported as an instant query type" in resp.text


def test_post_form_is_accepted(logql_env: LogqlEnv) -> None:
    env = logql_env
    resp = requests.post(
        f"{env.api}/loki/api/v1/query_range",
        data={
            "query": '{device="pump-3"}',
            "start": env.start_ns,
            "end": env.end_ns,
            "limit": 1000,
        },
        timeout=30,
    )
    assert len(entries(resp)) == sum(1 for r in env.records if r.device == "pump-3")


def test_labels_values_series(logql_env: LogqlEnv) -> None:
    env = logql_env
    window = {"start": env.start_ns, "end": env.end_ns}
    labels = get(env, "labels", **window).json()
    assert labels["status"] == "success"
    assert {"service_name", "host_name", "device", "detected_level", "trace_id"} <= set(
        labels["data"]
    )
    assert not any(name.startswith("_") or "." in name for name in labels["data"])
    values = get(env, "label/service_name/values", **window).json()
    assert values == {"status": "success", "data": ["plant-a", "plant-b"]}
    levels = get(env, "label/detected_level/values", **window).json()["data"]
    assert levels == ["debug", "error", "info", "warn"]
    scoped = get(env, "label/device/values", query='{service_name="plant-b"}', **window).json()
    assert scoped["data"] == sorted({r.device for r in env.records if r.service == "plant-b"})
    series = requests.get(
        f"{env.api}/loki/api/v1/series",
        params=[
            ("match[]", '{service_name="plant-b"}'),
            ("match[]", '{host_name="edge-1"}'),
            ("start", str(env.start_ns)),
            ("end", str(env.end_ns)),
        ],
        timeout=30,
    ).json()
    want = {
        (r.service, r.host) for r in env.records if r.service == "plant-b" or r.host == "edge-1"
    }
    assert {(s["service_name"], s["host_name"]) for s in series["data"]} == want


def test_index_stats_and_volume(logql_env: LogqlEnv) -> None:
    env = logql_env
    window = {"start": env.start_ns, "end": env.end_ns}
    stats = get(env, "index/stats", query='{service_name="plant-a"}', **window).json()
    mine = [r for r in env.records if r.service == "plant-a"]
    assert stats == {
        "streams": len({r.host for r in mine}),
        "chunks": len({r.host for r in mine}),
        "bytes": sum(len(r.body.encode()) for r in mine),
        "entries": len(mine),
    }
    vol = get(env, "index/volume", query=ALL, targetLabels="host_name", **window).json()
    assert vol["data"]["resultType"] == "vector"
    got = {s["metric"]["host_name"]: int(s["value"][1]) for s in vol["data"]["result"]}
    assert got == {
        h: sum(len(r.body.encode()) for r in env.records if r.host == h)
        for h in ("edge-1", "edge-2")
    }
    rng = get(env, "index/volume_range", query='{service_name="plant-b"}', step="60s",
              **window).json()  # fmt: skip
    assert rng["data"]["resultType"] == "matrix"
    [series] = rng["data"]["result"]
    assert series["metric"] == {"service_name": "plant-b"}
    assert sum(int(v) for _t, v in series["values"]) == sum(
        len(r.body.encode()) for r in env.records if r.service == "plant-b"
    )


def test_ready_and_buildinfo(logql_env: LogqlEnv) -> None:
    ready = requests.get(f"{logql_env.api}/ready", timeout=10)
    assert ready.status_code == 200 and ready.text.strip() == "ready"
    info = get(logql_env, "status/buildinfo").json()
    assert info["version"].count(".") == 2
    assert set(info) >= {"version", "revision", "branch", "buildUser", "buildDate", "goVersion"}


async def test_tail_receives_a_record_sent_after_it_connected(logql_env: LogqlEnv) -> None:
    env = logql_env
    url = env.api.replace("http", "ws") + "/loki/api/v1/tail"
    query = {"query": '{service_name="tailed"}'}
    sent: dict[str, Rec] = {}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, params=query) as ws:
        deadline = time.monotonic() + 60
        frame: dict[str, Any] | None = None
        # each record is sent after the socket is open; one more goes out every 2 s until the
        # tail (which starts reading VictoriaLogs as the socket opens) delivers one
        while frame is None:
            assert time.monotonic() < deadline, "no tail frame within 60 s"
            marker = f"tail-{len(sent)}-{time.time_ns()}"
            sent[marker] = Rec(i=1, time_ns=time.time_ns(), service="tailed", host="edge-9",
                               device="pump-9", severity="ERROR", body=marker)  # fmt: skip
            await asyncio.to_thread(send_otlp, env.vl, [sent[marker]])
            try:
                msg = await ws.receive(timeout=2.0)
            except TimeoutError:
                continue
            assert msg.type == aiohttp.WSMsgType.TEXT, msg
            frame = json.loads(msg.data)
    assert set(frame) == {"streams", "dropped_entries"}
    [s] = frame["streams"]
    [(ts, line)] = s["values"]
    assert line in sent
    assert int(ts) == sent[line].time_ns
    assert s["stream"]["service_name"] == "tailed"
    assert s["stream"]["detected_level"] == "error"


def test_tail_refuses_a_metric_query(logql_env: LogqlEnv) -> None:
    resp = requests.get(
        f"{logql_env.api}/loki/api/v1/tail",
        params={"query": 'sum(count_over_time({a="b"}[1m]))'},
        timeout=10,
    )
    assert resp.status_code == 400
    assert "only log queries can be tailed" in resp.text
