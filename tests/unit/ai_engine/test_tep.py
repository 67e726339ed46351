"""The Tennessee Eastman benchmark: targets on the real data, and its loader and CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sentio.ai_engine.alerts import go_seconds
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.ai_engine.nab.cli import eval_app
from sentio.ai_engine.tep.baselines import Pca, lagged
from sentio.ai_engine.tep.data import FAULT_START, FloatArray, load_tep, load_training
from sentio.ai_engine.tep.episodes import DURATIONS, runs
from sentio.ai_engine.tep.evaluate import BASELINES, evaluate_tep
from sentio.ai_engine.tep.scoring import device_score
from sentio.ai_engine.tep.tune import CHOSEN, choose, choose_rule
from typer.testing import CliRunner

from sentio.config import AlertingConfig

TEP_DATA = Path(
    os.environ.get("SENTIO_TEP_DATA", Path(__file__).parents[3].parent / "shared/datasets/tep")
)
needs_tep = pytest.mark.skipif(
    not (TEP_DATA / "d00.dat").is_file(), reason=f"TEP data not at {TEP_DATA}"
)


@needs_tep
def test_tep_targets_hold_against_every_baseline_of_the_same_run() -> None:
    report = evaluate_tep(load_tep(TEP_DATA)).as_json()
    assert report["mean_detection_18_at_far1"] >= 0.90
    assert report["false_alarm_rate"] <= 0.06
    for name in BASELINES:
        baseline = report["baselines"][name]
        assert report["mean_detection_18_at_far1"] > baseline["mean_detection_18_at_far1"]
    assert report["faults"]["21"]["sentio"]["detection"] >= 0.9  # the stuck valve
    assert report["explanation_top3_hits"] >= 8


@needs_tep
def test_scores_use_no_later_rows() -> None:
    data = load_tep(TEP_DATA)
    model = CHOSEN.model().fit(data.train)
    whole, _ = model.score(data.faults[21])
    prefix, _ = model.score(data.faults[21][:300])
    np.testing.assert_allclose(prefix, whole[:300], rtol=1e-9, atol=1e-12)


@needs_tep
def test_cli_prints_one_json_object_with_the_baselines() -> None:
    result = CliRunner().invoke(eval_app, ["tep", "--data", str(TEP_DATA), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    keys = {
        "mean_detection_18",
        "mean_detection_21",
        "false_alarm_rate",
        "mean_detection_18_at_far1",
    }
    assert keys <= set(report)
    assert set(report["baselines"]) == {"pca_t2", "pca_q", "dpca_t2", "dpca_q"}
    assert all(keys <= set(b) for b in report["baselines"].values())
    assert len(report["faults"]) == 21


def test_cli_names_a_missing_file(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "d00.dat", np.zeros((52, 500)))
    result = CliRunner().invoke(eval_app, ["tep", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert "d00_te.dat" in result.output


def test_cli_names_a_malformed_file(tmp_path: Path) -> None:
    np.savetxt(tmp_path / "d00.dat", np.zeros((52, 499)))
    result = CliRunner().invoke(eval_app, ["tep", "--data", str(tmp_path)])
    assert result.exit_code == 1
    assert "d00.dat" in result.output and "500 rows" in result.output


def test_lagged_rows_stack_the_previous_rows() -> None:
    frame = np.arange(8.0).reshape(4, 2)
    out = lagged(frame, 2)
    assert out.shape == (4, 6)
    np.testing.assert_array_equal(out[3], [6, 7, 4, 5, 2, 3])
    np.testing.assert_array_equal(out[0], [0, 1, 0, 1, 0, 1])


@needs_tep
def test_the_settings_are_the_ones_the_training_files_choose(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_test_files(root: Path, rows: int) -> FloatArray:
        raise AssertionError(f"the choice read a test file: {root}")

    training = load_training(TEP_DATA)
    monkeypatch.setattr("sentio.ai_engine.tep.data._read", no_test_files)
    best, trials = choose(training)
    assert best.settings == CHOSEN
    assert best.counts.false_alarm_rate <= 0.10
    assert len(trials) == 18


def _correlated(rows: int, seed: int) -> FloatArray:
    rng = np.random.default_rng(seed)
    mixing = np.random.default_rng(0).standard_normal((2, 6))
    return rng.standard_normal((rows, 2)) @ mixing + 0.1 * rng.standard_normal((rows, 6))


def test_pca_limits_put_about_one_percent_of_fresh_healthy_rows_above_one() -> None:
    pca = Pca().fit(_correlated(2000, 3))
    t2, q = pca.score(_correlated(20000, 4))
    assert np.mean(t2 > 1) == pytest.approx(0.01, abs=0.004)
    assert np.mean(q > 1) == pytest.approx(0.01, abs=0.004)


def test_pca_limits_from_held_out_rows_keep_a_short_window_from_alarming_too_often() -> None:
    train, fresh = _correlated(60, 5), _correlated(20000, 6)
    pca = Pca().fit(train)
    t2_fit, q_fit = pca._stats(train)  # what limits on the fitted rows themselves would be
    _, q_fresh = pca._stats(fresh)
    assert pca.limits[0] > np.quantile(t2_fit, 0.99)
    assert pca.limits[1] > np.quantile(q_fit, 0.99)
    assert np.mean(q_fresh > pca.limits[1]) < np.mean(q_fresh > np.quantile(q_fit, 0.99))
    assert np.mean(q_fresh > pca.limits[1]) <= 0.04


def test_device_model_limits_from_held_out_rows_hold_on_fresh_healthy_rows() -> None:
    names = [f"m{j}" for j in range(6)]
    model = DeviceModel(names).fit(_correlated(80, 7))
    fresh = device_score(model, _correlated(20000, 8))
    assert np.mean(fresh > 1) <= 0.02  # 80 rows: 4% before the floors, 1.0% with them


@needs_tep
def test_episodes_end_where_the_normal_run_takes_over_at_the_same_row() -> None:
    data = load_tep(TEP_DATA)
    built = runs(data)
    assert len(built) == 21 * len(DURATIONS) + 1
    run = built[2]  # fault 1, the third duration
    end = FAULT_START + DURATIONS[2]
    assert (run.start, run.end) == (FAULT_START, end)
    np.testing.assert_array_equal(run.frame[:end], data.faults[1][:end])
    np.testing.assert_array_equal(run.frame[end:], data.normal[end:])


@needs_tep
def test_faults_that_end_are_scored_per_row_and_per_episode_from_the_cli() -> None:
    result = CliRunner().invoke(eval_app, ["tep-episodes", "--data", str(TEP_DATA), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rule"] == {"for_s": 900.0, "interval_s": 15.0, "hold_s": 300.0}
    rows, episodes = report["per_row"]["faults_18"], report["per_episode"]["faults_18"]
    assert rows["false_alarm_rate"] <= 0.10 and rows["f1"] >= 0.80
    assert episodes["share_alerted"] >= 0.85
    assert episodes["false_alerts_per_day"] <= 2.0
    assert episodes["never_below_1_after_end"] == 0
    assert episodes["score_below_1_after_end_s"]["max"] <= 4 * 3600


@needs_tep
def test_the_default_alert_timing_is_the_one_the_training_files_choose() -> None:
    best, _ = choose_rule(load_training(TEP_DATA))
    defaults = AlertingConfig()
    assert best.rule.for_s == go_seconds(defaults.anomaly_for)
    assert best.rule.hold_s == go_seconds(defaults.anomaly_hold)


@needs_tep
def test_the_engine_defaults_can_be_scored_as_sentio_ai_run_fits_a_device() -> None:
    result = CliRunner().invoke(
        eval_app, ["tep", "--data", str(TEP_DATA), "--json", "--engine-defaults"]
    )
    assert result.exit_code == 0, result.output
    model = DeviceModel(["x"])
    assert json.loads(result.stdout)["settings"] == {
        "smoothing": model.smoothing, "clip": model.clip, "margin": model.margin,
    }  # fmt: skip
