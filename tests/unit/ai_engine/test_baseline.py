"""Scores that come back down: alarms left out of refits, new operating points, re-baselines."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from sentio.ai_engine.baseline import DeviceHistory, request_rebaseline, take_requests
from sentio.ai_engine.engine import QueryEngine
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.ai_engine.reader import Series
from sentio.ai_engine.state import decode, encode
from typer.testing import CliRunner

from sentio.cli import app
from sentio.config import AIQueryConfig
from tests.unit.ai_engine.test_engine_envelope import T0, FakeWriter

STEP = 60
ROWS = 900
DEVICE = (("device", "m1"),)


class ShiftReader:
    """One machine of three correlated channels; from ``shift`` on, ``kind`` happens to it."""

    def __init__(self, shift: int, kind: str) -> None:
        rng = np.random.default_rng(11)
        load = rng.normal(0, 1, ROWS)
        self.values = {
            "flow": 20 + 2 * load + rng.normal(0, 0.3, ROWS),
            "power": 5 + 1 * load + rng.normal(0, 0.2, ROWS),
            "temp": 40 + rng.normal(0, 0.5, ROWS),
        }
        if kind == "new-normal":  # a new set point: every channel moves and stays there
            self.values["flow"][shift:] += 8.0
            self.values["power"][shift:] += 4.0
            self.values["temp"][shift:] += 3.0
        elif kind == "stuck":  # a sensor that stops moving
            self.values["temp"][shift:] = self.values["temp"][shift]

    async def pages(
        self, query: str, start: int, end: int, step: int,
        group_by: Sequence[str] = (), keep: object = None,
    ) -> AsyncIterator[list[Series]]:  # fmt: skip
        lo = max(0, (start - T0 + step - 1) // step)
        hi = min(ROWS - 1, (end - T0) // step)
        if hi >= lo:
            yield [
                Series({"__name__": n, "device": "m1"}, T0 + lo * step, step, v[lo : hi + 1])
                for n, v in self.values.items()
            ]


def _engine(tmp_path: Path, reader: ShiftReader, settle_rows: int) -> QueryEngine:
    query = AIQueryConfig(
        name="machines", promql="{device='m1'}", group_by=["device"], model="multivariate",
        step_s=STEP, fit_window_s=ROWS * STEP, settle_s=settle_rows * STEP,
    )  # fmt: skip
    events = logging.getLogger("sentio.ai.test-baseline")
    return QueryEngine(query, reader, FakeWriter(), tmp_path, events)  # type: ignore[arg-type]


async def _run(eng: QueryEngine, first: int, last: int, every: int = 10) -> np.ndarray:
    writer: FakeWriter = eng.writer  # type: ignore[assignment]
    for row in range(first, last + 1, every):
        await eng.infer(T0 + row * STEP)
    found = sorted((f.timestamp_s, f.score) for f in writer.findings if f.score is not None)
    writer.findings.clear()
    return np.array([s for _, s in found])


def test_alarm_periods_merge_across_short_gaps_and_are_left_out_of_fits() -> None:
    history = DeviceHistory()
    ts = np.arange(0, 600, 60)
    history.record(ts, np.isin(ts, [120, 180, 360]), gap=120)
    history.record(np.array([900]), np.array([True]), gap=120)
    assert history.alarms == [[120, 180], [360, 360], [900, 900]]
    assert history.alarming_for(960, gap=120) == 60
    assert history.alarming_for(1200, gap=120) == 0
    keep = history.learnable(np.arange(0, 1200, 60), margin=0)
    assert not keep[[2, 3, 6, 15]].any() and keep[[0, 1, 4, 5, 7, 14, 16]].all()
    history.rebaseline(600)
    assert history.alarms == [] and not history.learnable(np.array([540]), 0)[0]


async def test_a_lasting_new_operating_point_is_learnt_after_settle_s_and_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    eng = _engine(tmp_path, ShiftReader(shift=300, kind="new-normal"), settle_rows=240)
    await eng.fit(T0 + 299 * STEP)
    with caplog.at_level(logging.WARNING, "sentio.ai.test-baseline"):
        during = await _run(eng, 300, 540)
        after = await _run(eng, 550, 899)
    assert np.mean(during > 1) > 0.95, "the change alarms until it has lasted settle_s"
    assert np.mean(after > 1) < 0.05, "then it is the new normal"
    changed = [r for r in caplog.records if "operating point" in r.getMessage()]
    assert len(changed) == 1
    assert eng.state.history[DEVICE].since == T0 + 540 * STEP - 240 * STEP
    await eng.fit(T0 + 899 * STEP)  # a refit keeps to the new baseline
    assert np.mean(await _run(eng, 600, 899) > 1) < 0.05


async def test_a_sensor_stuck_for_longer_than_settle_s_keeps_alarming(tmp_path: Path) -> None:
    eng = _engine(tmp_path, ShiftReader(shift=300, kind="stuck"), settle_rows=120)
    await eng.fit(T0 + 299 * STEP)
    scores = await _run(eng, 300, 899)
    assert np.mean(scores[200:] > 1) > 0.95, "a stuck sensor is never learnt as normal"


async def test_a_refit_leaves_out_the_rows_that_were_alarming(tmp_path: Path) -> None:
    eng = _engine(tmp_path, ShiftReader(shift=300, kind="new-normal"), settle_rows=0)
    await eng.fit(T0 + 299 * STEP)
    await _run(eng, 300, 600)
    await eng.fit(T0 + 600 * STEP)  # the window holds 300 normal rows and 300 alarming ones
    assert np.mean(await _run(eng, 610, 899) > 1) > 0.95, "the alarming rows were not learnt"
    blank = _engine(tmp_path / "b", ShiftReader(shift=300, kind="new-normal"), settle_rows=0)
    await blank.fit(T0 + 600 * STEP)  # the same window with no alarm history learns the shift
    assert np.mean(await _run(blank, 610, 899) > 1) < 0.5


async def test_a_rebaseline_request_refits_the_device_from_its_since(tmp_path: Path) -> None:
    eng = _engine(tmp_path, ShiftReader(shift=300, kind="new-normal"), settle_rows=0)
    await eng.fit(T0 + 299 * STEP)
    assert np.mean(await _run(eng, 300, 500) > 1) > 0.95
    request_rebaseline(tmp_path, "machines", "m1", T0 + 300 * STEP)  # maintenance at row 300
    assert len(take_requests(tmp_path, "machines")) == 1
    after = await _run(eng, 510, 899)
    assert np.mean(after > 1) < 0.05
    assert take_requests(tmp_path, "machines") == [], "an applied request is removed"
    assert decode(encode(eng.state)) is not None
    restored = decode(encode(eng.state))
    assert restored is not None and restored.history[DEVICE].since == T0 + 300 * STEP


def test_the_cli_leaves_a_request_for_the_engine(tmp_path: Path) -> None:
    config = tmp_path / "sentio.yaml"
    config.write_text(
        f"ai:\n  state_dir: {tmp_path / 'state'}\n  queries:\n"
        "    - {name: machines, promql: up, group_by: [device]}\n"
    )
    result = CliRunner().invoke(
        app, ["ai", "rebaseline", "m1", "-c", str(config), "--since", "1700000000"]
    )
    assert result.exit_code == 0, result.output
    assert take_requests(tmp_path / "state", "machines")[0][:2] == ("m1", 1700000000)
    wrong = CliRunner().invoke(app, ["ai", "rebaseline", "m1", "-c", str(config), "--query", "x"])
    assert wrong.exit_code == 2 and "x" in wrong.output


def test_the_score_falls_below_one_within_the_models_recovery_bound() -> None:
    rng = np.random.default_rng(4)
    names = ["a", "b", "c", "d"]

    def healthy(rows: int) -> np.ndarray:
        base = rng.normal(0, 1, (rows, 1))
        return np.hstack([base, 2 * base, -base, np.zeros((rows, 1))]) + rng.normal(
            0, 0.2, (rows, 4)
        ) + np.array([0, 0, 0, 10.0])  # fmt: skip

    for smoothing in (0.1, 0.3):
        model = DeviceModel(names, smoothing=smoothing).fit(healthy(600))
        bound = model.recovery_rows
        fault = healthy(100) + np.array([50.0, -50.0, 50.0, 30.0])  # far off, clipped
        after = healthy(bound + 200)
        score, _ = model.score(np.vstack([healthy(50), fault, after]))
        tail = score[150 + bound :]
        assert score[60:150].min() > 1
        assert score[150:153].min() > 1, "the smoothed statistics hold it up at first"
        assert np.mean(tail > 1) < 0.02, (smoothing, bound)
