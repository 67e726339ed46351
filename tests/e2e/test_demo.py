"""`sentio demo`: starts its own stack, data becomes queryable, Ctrl-C stops every process."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests
import yaml
from sentio.simulators.mosquitto import find_mosquitto

from sentio.config import SentioConfig
from sentio.stack.backends import backends
from sentio.stack.probe import poll
from sentio.stack.query import Backends, logsql, promql
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from tests.conftest import stack_config

SENTIO = [sys.executable, "-m", "sentio.cli"]
FAULT_AFTER_S = 50


def _pid_alive(pid: int) -> bool:
    """Return whether ``pid`` runs (a zombie waiting for init to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in {"Z", "X"}


def _wait_for_text(path: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in path.read_text():
        assert time.monotonic() < deadline, f"{text!r} not printed within {timeout_s}s"
        time.sleep(0.2)


async def _demo_data(config: SentioConfig) -> tuple[list[Any], list[Any]]:
    urls = Backends(config.stack)
    async with aiohttp.ClientSession() as session:

        async def metric() -> list[Any] | None:
            query = 'sentio_demo_temperature_celsius{device="ahu-1"}'
            return await promql(session, urls.vm, query) or None

        async def logs() -> list[Any] | None:
            query = f'{{service.name="{config.service.name}"}} device:="ahu-1"'
            return await logsql(session, urls.vl, query, since="10m") or None

        async def pumps() -> list[Any] | None:
            query = 'vibration_mm_per_second{instance="demo-pumps"}'
            got = await promql(session, urls.vm, query)
            return got if len(got) == 2 else None

        await poll(pumps, 60, "both simulated pumps' vibration, through the collector")
        return (
            await poll(metric, 60, "demo temperature in VictoriaMetrics"),
            await poll(logs, 60, "demo logs in VictoriaLogs"),
        )


async def _plant_data(config: SentioConfig) -> tuple[dict[str, float], dict[str, float]]:
    """Return the line's temperatures and the Zigbee sensors' batteries (none without mosquitto)."""
    urls = Backends(config.stack)
    async with aiohttp.ClientSession() as session:

        async def series(query: str, count: int) -> dict[str, float] | None:
            got = await promql(session, urls.vm, query)
            values = {r["metric"]["device"]: float(r["value"][1]) for r in got}
            return values if len(values) == count else None

        async def line() -> dict[str, float] | None:
            return await series('temperature_celsius{instance="demo-line"}', 3)

        async def zigbee() -> dict[str, float] | None:
            return await series('battery_percent{instance="demo-zigbee"}', 3)

        temperatures = await poll(line, 60, "the line's temperatures, through the OPC-UA connector")
        assert find_mosquitto() is not None, "mosquitto is missing: `make test` installs it"
        return temperatures, await poll(zigbee, 60, "the Zigbee batteries, through Mosquitto")


async def _fault_scores(config: SentioConfig) -> tuple[float, float]:
    """Wait for pump 2's fault to be scored; return both pumps' highest recent scores."""
    urls = Backends(config.stack)
    query = 'max_over_time(sentio_ai_anomaly_score{query="pump-vibration",device="%s"}[5m])'
    async with aiohttp.ClientSession() as session:

        async def faulty() -> float | None:
            got = await promql(session, urls.vm, query % "pump-2")
            return float(got[0]["value"][1]) if got and float(got[0]["value"][1]) > 1 else None

        # warm-up (20 points at 2 s), the fault, then at most two infer cycles of 10 s
        pump2 = await poll(faulty, FAULT_AFTER_S + 60, "pump-2's fault scored above 1")
        pump1 = await promql(session, urls.vm, query % "pump-1")
        return pump2, float(pump1[0]["value"][1])


@pytest.mark.timeout(300)
def test_demo_emits_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    config = stack_config(tmp_path / "data", service="sentio-demo-test")
    data = config.model_dump(mode="json")
    data["telemetry"]["export_interval_s"] = 1
    data["ai"]["state_dir"] = str(tmp_path / "ai")
    cfg = tmp_path / "sentio.yaml"
    cfg.write_text(yaml.safe_dump(data))
    out = tmp_path / "demo.out"
    with out.open("w") as log:
        proc = subprocess.Popen(
            [*SENTIO, "demo", "-c", str(cfg), "--fault", "2=spike:vibration:8",
             "--fault-after", str(FAULT_AFTER_S)],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        _wait_for_text(out, "Sentio demo is running", 120)
        run_files = list((tmp_path / "data" / "run").glob("*.json"))
        pids = [int(json.loads(p.read_text())["pid"]) for p in run_files]
        assert len(pids) == len(backends(load_versions()))
        series, entries = asyncio.run(_demo_data(config))
        assert 30 < float(series[0]["value"][1]) < 50
        assert {e["_msg"] for e in entries} == {"polled ahu-1"}
        # the LogQL example URL the demo prints answers with the demo's records
        [logql_url] = re.findall(r"http://\S+/loki/api/v1/query_range\?\S+", out.read_text())
        streams = requests.get(logql_url, timeout=30).json()["data"]["result"]
        lines = {line for s in streams for _ts, line in s["values"]}
        assert lines == {"polled ahu-1"}, streams
        assert all(s["stream"]["device"] == "ahu-1" for s in streams)
        temperatures, batteries = asyncio.run(_plant_data(config))
        assert sorted(temperatures) == ["line1-conveyor", "line1-oven", "line1-press"]
        assert 170 < temperatures["line1-oven"] < 190
        assert 35 < temperatures["line1-conveyor"] < 50
        assert sorted(batteries) == ["climate-1", "contact-2", "occupancy-3"]
        assert all(0 < b <= 100 for b in batteries.values())
        pump2, pump1 = asyncio.run(_fault_scores(config))
        assert pump2 > 1, "the injected fault is scored above 1"
        assert pump1 < 1, "the healthy pump stays below 1"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, out.read_text()
        output = out.read_text()
        # every task stopped within the plant's grace; a slower stop dumps the threads' stacks
        assert "outlived the stop" not in output, output
        assert "did not stop within" not in output, output
        assert "Most recent call first" not in output, output
        urls = Backends(config.stack)
        # not a terminal: the welcome text comes in whole lines, every URL usable as printed
        for url in (f"{urls.vm}/vmui/#/dashboards", f"{urls.vl}/select/vmui",
                    f"{urls.jaeger}/api/traces"):  # fmt: skip
            assert url in output, f"{url} not printed whole:\n{output}"
        assert "LogsQL: {service.name=" in output
        # provisioned: rules, Alertmanager's Slack route to a local receiver, the dashboards
        stack_dir = config.stack.stack_config_dir()
        assert (stack_dir / "rules" / "metrics" / "sentio.yml").is_file()
        assert (stack_dir / "dashboards" / "01-sentio-fleet.json").is_file()
        assert "Alertmanager's messages go to http://127.0.0.1:" in output
        assert "Future exception was never retrieved" not in output
        assert "Traceback" not in output
        assert not [pid for pid in pids if _pid_alive(pid)], "backends left running after Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        # whatever happened above, leave no backend of this test running
        stack = Stack(config.stack, backends(load_versions()))
        asyncio.run(stack.down(progress=lambda _m: None))
