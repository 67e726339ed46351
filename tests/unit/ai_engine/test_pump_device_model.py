"""The device model on a simulated pump: a quantized gauge and a valve that sits for hours."""

from __future__ import annotations

import numpy as np
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.simulators.pump import Drift, Pump, Stuck, Valve

STEP_S = 60.0
DAY = 1440  # rows of one minute
GAUGE_STEP = 0.3
METRICS = [
    "vibration",
    "bearing_temperature",
    "motor_current",
    "pressure",
    "flow",
    "valve_position",
]


def pump() -> Pump:
    return Pump(seed=11, pressure_step=GAUGE_STEP, valve=Valve((60.0, 45.0, 75.0), 4 * 3600.0))


def run(p: Pump, rows: int) -> np.ndarray:
    out = np.empty((rows, len(METRICS)))
    for row in range(rows):
        values = p.advance(STEP_S)
        out[row] = [values[m] for m in METRICS]
    return out


def trained() -> tuple[Pump, DeviceModel, np.ndarray]:
    p = pump()
    day = run(p, DAY)
    return p, DeviceModel(METRICS).fit(day), day


def test_the_simulated_instruments_are_quantized_and_sit_for_hours() -> None:
    _, model, day = trained()
    steps = np.round(day[:, 3] / GAUGE_STEP, 6)
    assert np.all(steps == np.round(steps))  # the gauge reads in 0.3 bar steps
    assert len(np.unique(day[:, 5])) == 3  # the valve holds three positions
    assert np.max(np.diff(np.flatnonzero(np.diff(day[:, 5]) != 0))) >= 239  # for 4 hours each
    assert model.scale[3] >= GAUGE_STEP


def test_a_healthy_day_scores_below_one_throughout() -> None:
    p, model, day = trained()
    next_day = run(p, DAY)
    assert model.score(day)[0].max() < 1
    assert model.score(next_day)[0].max() < 1


def test_a_stuck_valve_scores_above_one_for_as_long_as_it_lasts() -> None:
    p, model, _ = trained()
    healthy = run(p, DAY - 1)  # one row before the valve's next move, at hour 48
    p.inject(Stuck("valve_position"))  # the position reading stays while the valve moves
    stuck = run(p, 180)
    p.clear_faults()
    after = run(p, 180)
    score, explanation = model.score(np.vstack([healthy, stuck, after]))
    # Smoothed statistics take a few rows to rise; then the score stays up until the fault ends.
    during = score[len(healthy) + 5 : len(healthy) + len(stuck)]
    assert score[: len(healthy)].max() < 1
    assert during.min() > 1
    assert score[-60:].max() < 1  # and it falls back once the reading follows the valve again
    top = max(explanation[len(healthy) + 60].items(), key=lambda kv: kv[1])[0]
    assert top in {"valve_position", "flow", "pressure", "motor_current"}


def test_a_drift_scores_above_one_for_as_long_as_it_lasts() -> None:
    p, model, _ = trained()
    healthy = run(p, DAY + 30)  # mid-way through a valve position, not at a move
    p.inject(Drift("pressure", 0.5))  # bar per hour
    drifting = run(p, 240)
    score, explanation = model.score(np.vstack([healthy, drifting]))
    assert score[: len(healthy)].max() < 1
    # From two gauge steps of drift (0.6 bar, 72 minutes) for as long as the drift goes on.
    assert score[len(healthy) + 72 :].min() > 1
    assert max(explanation[-1].items(), key=lambda kv: kv[1])[0] == "pressure"
