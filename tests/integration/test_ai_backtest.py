"""`sentio ai backtest` replays history from the real VictoriaMetrics and writes scores back."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import aiohttp
import numpy as np
import yaml
from typer.testing import CliRunner

from sentio.cli import app
from sentio.config import SentioConfig
from sentio.otlp import MetricsPusher, Point, encode_gauges
from sentio.stack.probe import poll
from sentio.stack.query import promql

STEP = 60


async def _write(config: SentioConfig, run: str, t0: int, values: np.ndarray) -> None:
    points = [
        Point("bt.flow", float(v), (t0 + i * STEP) * 1_000_000_000, {"run": run, "device": "p1"})
        for i, v in enumerate(values)
    ]
    async with aiohttp.ClientSession() as session:
        pusher = MetricsPusher(session, config.endpoint("metrics"), config.telemetry.metrics)
        await pusher.push(encode_gauges({"service.name": "bt"}, points))

        async def there() -> bool | None:
            got = await promql(
                session, config.query_url(), f'count_over_time(bt_flow{{run="{run}"}}[4h])'
            )
            return True if got and float(got[0]["value"][1]) == len(values) else None

        await poll(there, 30, "backtest input")


async def _score_at(config: SentioConfig, run: str, ts: int) -> float:
    async with aiohttp.ClientSession() as session:
        params = {"query": f'sentio_ai_anomaly_score{{run="{run}"}}', "time": str(ts)}

        async def score() -> float | None:
            async with session.get(f"{config.query_url()}/api/v1/query", params=params) as resp:
                result = (await resp.json())["data"]["result"]
            return float(result[0]["value"][1]) if result else None

        return await poll(score, 30, f"the backtest's score at {ts}")


def test_backtest_scores_a_past_spike(stack_config_live: SentioConfig, tmp_path: Path) -> None:
    config = stack_config_live
    run = uuid.uuid4().hex[:8]
    t0 = (int(time.time()) // STEP - 180) * STEP
    values = 100 + np.random.default_rng(4).normal(0, 1.0, 170)
    values[140] += 20
    asyncio.run(_write(config, run, t0, values))
    data = config.model_dump(mode="json")
    data["ai"] = {
        "state_dir": str(tmp_path / "live-state"),
        "queries": [{"name": "bt", "promql": f'bt_flow{{run="{run}"}}', "fit_window_s": 7200}],
    }
    cfg = tmp_path / "sentio.yaml"
    cfg.write_text(yaml.safe_dump(data))
    start, end = t0 + 100 * STEP, t0 + 169 * STEP
    result = CliRunner().invoke(
        app, ["ai", "backtest", "-c", str(cfg), "--from", str(start), "--to", str(end)]
    )
    assert result.exit_code == 0, result.output
    assert "bt: fitted 1 series" in result.output
    assert asyncio.run(_score_at(config, run, t0 + 140 * STEP)) > 1
    assert asyncio.run(_score_at(config, run, t0 + 120 * STEP)) < 1
    assert not (tmp_path / "live-state").exists()  # a backtest leaves the live state alone
