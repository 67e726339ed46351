"""The generated rules' PromQL, evaluated by VictoriaMetrics on series shaped as the collector's."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import aiohttp
from sentio.dashboards import rules
from sentio.dashboards.model import AlertRule

from sentio.config import SentioConfig
from sentio.stack.probe import poll

POLLS = "sentio_collector_poll_duration_seconds_count"
STEP_S = 30
WINDOW_S = 15 * 60


def _counter(name: str, labels: dict[str, str], per_step: float, now_ms: int) -> str:
    """Return a counter series growing by ``per_step`` every STEP_S over the last WINDOW_S."""
    steps = WINDOW_S // STEP_S
    stamps = [now_ms - (steps - k) * STEP_S * 1000 for k in range(steps + 1)]
    return json.dumps(
        {"metric": {"__name__": name, **labels},
         "values": [k * per_step for k in range(steps + 1)], "timestamps": stamps}
    )  # fmt: skip


async def _query(session: aiohttp.ClientSession, vm: str, expr: str) -> list[dict[str, Any]]:
    async with session.get(f"{vm}/api/v1/query", params={"query": expr}) as resp:
        assert resp.status == 200, await resp.text()
        result: list[dict[str, Any]] = (await resp.json())["data"]["result"]
        return result


async def test_polls_late_fires_for_the_entry_that_misses_ticks_not_the_one_that_keeps_up(
    stack_config_live: SentioConfig,
) -> None:
    by_name = {
        r.name: r for g in rules.rule_groups(stack_config_live.alerting) for r in g.rules
        if isinstance(r, AlertRule)
    }  # fmt: skip
    run = uuid.uuid4().hex[:8]
    process = {"service_name": "sentio", "service_instance_id": f"late-{run}"}
    late = {**process, "connector": "modbus", "instance": f"fleet-{run}"}
    fine = {**process, "connector": "modbus", "instance": f"plant-{run}"}
    now_ms = int(time.time() * 1000)
    series = [
        # fleet: as many ticks missed as polls made (half late); plant: 1 in 100
        _counter("sentio_collector_poll_missed_total", late, 300, now_ms),
        _counter(POLLS, {**late, "device": "a"}, 150, now_ms),
        _counter(POLLS, {**late, "device": "b"}, 150, now_ms),
        _counter("sentio_collector_poll_missed_total", fine, 3, now_ms),
        _counter(POLLS, {**fine, "device": "c"}, 300, now_ms),
    ]
    vm = stack_config_live.stack.url("victoriametrics")
    expr = by_name["SentioPollsLate"].expr
    mine = process["service_instance_id"]
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{vm}/api/v1/import", data="\n".join(series).encode()) as resp:
            assert resp.status == 204, await resp.text()
        await session.get(f"{vm}/internal/force_flush")

        async def firing() -> list[dict[str, Any]] | None:
            found = await _query(session, vm, expr)
            return [r for r in found if r["metric"].get("service_instance_id") == mine] or None

        result = await poll(firing, 30, "SentioPollsLate's expression over the imported series")
        ratio = await _query(session, vm, expr.rpartition(" > ")[0])
    assert [r["metric"]["instance"] for r in result] == [late["instance"]]
    assert abs(float(result[0]["value"][1]) - 0.5) < 0.01
    shares = {r["metric"]["instance"]: float(r["value"][1]) for r in ratio
              if r["metric"].get("service_instance_id") == mine}  # fmt: skip
    assert set(shares) == {late["instance"], fine["instance"]}
    assert abs(shares[fine["instance"]] - 0.01) < 0.002, "the entry that keeps up stays below"
