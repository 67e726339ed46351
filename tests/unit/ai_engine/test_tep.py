"""The Tennessee Eastman benchmark: targets on the real data, and its loader and CLI."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.ai_engine.nab.cli import eval_app
from sentio.ai_engine.tep.baselines import Pca, lagged
from sentio.ai_engine.tep.data import NAMES, load_tep
from sentio.ai_engine.tep.evaluate import BASELINES, evaluate_tep
from typer.testing import CliRunner

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
    assert report["false_alarm_rate"] <= 0.05
    for name in BASELINES:
        baseline = report["baselines"][name]
        assert report["mean_detection_18_at_far1"] > baseline["mean_detection_18_at_far1"]
    assert report["faults"]["21"]["sentio"]["detection"] >= 0.9  # the stuck valve
    assert report["explanation_top3_hits"] >= 8


@needs_tep
def test_scores_use_no_later_rows() -> None:
    data = load_tep(TEP_DATA)
    model = DeviceModel(list(NAMES)).fit(data.train)
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


def test_pca_limits_put_one_percent_of_training_rows_above_one() -> None:
    rng = np.random.default_rng(3)
    latent = rng.standard_normal((2000, 2))
    frame = latent @ rng.standard_normal((2, 6)) + 0.1 * rng.standard_normal((2000, 6))
    t2, q = Pca().fit(frame).score(frame)
    assert np.mean(t2 > 1) == pytest.approx(0.01, abs=0.002)
    assert np.mean(q > 1) == pytest.approx(0.01, abs=0.002)
