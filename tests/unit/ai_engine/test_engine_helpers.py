from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from sentio.ai_engine.cli import parse_shard
from sentio.ai_engine.engine import in_shard, log_attributes, validation_choice
from sentio.ai_engine.models.seasonal import DAY_S
from typer.testing import CliRunner

from sentio.cli import app


def test_shards_partition_the_series() -> None:
    keys = [(("device", f"d{i}"),) for i in range(200)]
    owners = [[k for k in keys if in_shard(k, (i, 3))] for i in range(3)]
    assert sum(len(o) for o in owners) == 200
    assert all(len(o) > 30 for o in owners)
    assert parse_shard("2/3") == (2, 3)
    for bad in ("3/3", "x", "1/0"):
        with pytest.raises(typer.BadParameter):
            parse_shard(bad)


def test_log_attributes_are_safe_for_logging() -> None:
    assert log_attributes({"__name__": "m", "msg": 1, "device": "d", "gone": None}) == {
        "metric": "m",
        "label_msg": 1,
        "device": "d",
    }


def test_validation_picks_seasonal_for_a_daily_pattern_and_robust_otherwise() -> None:
    ts = np.arange(0, 10 * DAY_S, 600)
    rng = np.random.default_rng(5)
    daily = 20 + 10 * np.sin(2 * np.pi * ts / DAY_S) + rng.normal(0, 0.3, len(ts))
    assert validation_choice(ts, daily) == "seasonal"
    assert validation_choice(ts, 20 + rng.normal(0, 0.3, len(ts))) == "robust"
    assert validation_choice(ts[:100], daily[:100]) == "robust"  # under two days: no season


def test_ai_run_without_queries_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "s.yaml"
    cfg.write_text("service:\n  name: x\n")
    result = CliRunner().invoke(app, ["ai", "run", "-c", str(cfg), "--once"])
    assert result.exit_code == 2
    assert "no queries under `ai.queries`" in result.output
