from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sentio.ai_engine.errors import DatasetError
from sentio.ai_engine.models import EnvelopeConfig
from sentio.ai_engine.nab.cli import eval_app
from sentio.ai_engine.nab.corpus import load_corpus, probationary_rows
from sentio.ai_engine.nab.results import write_results
from sentio.ai_engine.nab.runner import score_corpus, score_series, unix_seconds
from typer.testing import CliRunner

PROFILES = {
    "standard": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.11}},
    "reward_low_FP_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 1.0, "fpWeight": 0.22}},
    "reward_low_FN_rate": {"CostMatrix": {"tpWeight": 1.0, "fnWeight": 2.0, "fpWeight": 0.11}},
}


def stamp(row: int) -> str:
    return f"2020-01-{1 + row // 288:02d} {row % 288 // 12:02d}:{row % 12 * 5:02d}:00"


def write_series(path: Path, values: list[float]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["timestamp", "value"])
        writer.writerows([stamp(i), v] for i, v in enumerate(values))


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    root = tmp_path / "nab"
    rng = np.random.default_rng(0)
    spiky = list(10.0 + rng.normal(0.0, 1.0, 600))
    spiky[450] = 40.0
    write_series(root / "data" / "realTest" / "spiky.csv", spiky)
    write_series(root / "data" / "artificialTest" / "flat.csv", [1.0] * 400)
    windows = {
        "realTest/spiky.csv": [[f"{stamp(430)}.000000", f"{stamp(470)}.000000"]],
        "artificialTest/flat.csv": [],
    }
    (root / "labels").mkdir()
    (root / "labels" / "combined_windows.json").write_text(json.dumps(windows))
    (root / "config").mkdir()
    (root / "config" / "profiles.json").write_text(json.dumps(PROFILES))
    return root


def test_load_corpus_maps_windows_to_rows(corpus_dir: Path) -> None:
    corpus = load_corpus(corpus_dir)
    assert [s.name for s in corpus.series] == ["artificialTest/flat.csv", "realTest/spiky.csv"]
    spiky = corpus.series[1]
    assert spiky.windows == ((430, 470),)
    assert (spiky.category, spiky.stem, spiky.probation) == ("realTest", "spiky.csv", 90)
    assert corpus.n_rows == 1000 and corpus.n_windows == 1
    assert corpus.profiles["reward_low_FP_rate"].fp == 0.22


def test_probationary_rows() -> None:
    assert probationary_rows(1000) == 150
    assert probationary_rows(4032) == 604
    assert probationary_rows(22695) == 750


def test_missing_data_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match=f"{tmp_path / 'nope'}: NAB data directory not found"):
        load_corpus(tmp_path / "nope")


def test_malformed_csv_names_file_and_line(corpus_dir: Path) -> None:
    bad = corpus_dir / "data" / "realTest" / "spiky.csv"
    lines = bad.read_text().splitlines()
    lines[3] = "2020-01-01 00:10:00,oops"
    bad.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"spiky\.csv:4: value 'oops' is not a number"):
        load_corpus(corpus_dir)


def test_bad_header_and_unlabelled_file_are_reported(corpus_dir: Path) -> None:
    write_series(corpus_dir / "data" / "realTest" / "extra.csv", [1.0, 2.0])
    with pytest.raises(DatasetError, match=r"extra\.csv: no entry in labels"):
        load_corpus(corpus_dir)
    (corpus_dir / "data" / "realTest" / "extra.csv").unlink()
    (corpus_dir / "data" / "realTest" / "spiky.csv").write_text("time,val\n1,2\n")
    with pytest.raises(DatasetError, match=r"spiky\.csv:1: expected header"):
        load_corpus(corpus_dir)


def test_window_outside_the_series_is_reported(corpus_dir: Path) -> None:
    labels = corpus_dir / "labels" / "combined_windows.json"
    labels.write_text(
        json.dumps(
            {"realTest/spiky.csv": [["2030-01-01", "2030-01-02"]], "artificialTest/flat.csv": []}
        )
    )
    with pytest.raises(DatasetError, match="covers no row"):
        load_corpus(corpus_dir)


def test_missing_profiles_file_is_named(corpus_dir: Path) -> None:
    (corpus_dir / "config" / "profiles.json").unlink()
    with pytest.raises(DatasetError, match=r"profiles\.json: file not found"):
        load_corpus(corpus_dir)


def test_parallel_scoring_matches_serial_and_keeps_order(corpus_dir: Path) -> None:
    corpus = load_corpus(corpus_dir)
    seen: list[str] = []
    serial = score_corpus(corpus.series, EnvelopeConfig(), 1, lambda s: seen.append(s.name))
    parallel = score_corpus(corpus.series, EnvelopeConfig(), 2)
    assert sorted(seen) == [s.name for s in corpus.series]
    for one, other in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(one, other)
    spiky = corpus.series[1]
    direct = score_series(spiky.values, unix_seconds(spiky.timestamps), EnvelopeConfig())
    np.testing.assert_array_equal(direct, serial[1])
    assert serial[1][450] > 0.0


def test_results_are_written_in_nab_layout(corpus_dir: Path, tmp_path: Path) -> None:
    corpus = load_corpus(corpus_dir)
    scores = [np.linspace(0.0, 1.0, len(s.values)) for s in corpus.series]
    paths = write_results(tmp_path / "out", "sentio", corpus.series, scores)
    assert paths[1] == tmp_path / "out" / "sentio" / "realTest" / "sentio_spiky.csv"
    with paths[1].open() as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["timestamp", "value", "anomaly_score", "label"]
    assert rows[1][0] == "2020-01-01 00:00:00" and rows[1][3] == "0"
    assert rows[431][3] == "1" and rows[471][3] == "1" and rows[472][3] == "0"
    assert float(rows[-1][2]) == 1.0


def test_cli_prints_json_and_writes_results(corpus_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        eval_app,
        [
            "nab",
            "--data",
            str(corpus_dir),
            "--json",
            "--jobs",
            "1",
            "--results",
            str(tmp_path / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}
    assert data["standard"] > 90.0  # the one spike sits in the one window
    assert (tmp_path / "r" / "sentio" / "artificialTest" / "sentio_flat.csv").exists()


def test_cli_table_shows_the_published_scoreboard(corpus_dir: Path) -> None:
    result = CliRunner().invoke(eval_app, ["nab", "--data", str(corpus_dir), "--jobs", "1"])
    assert result.exit_code == 0, result.output
    for name in ("Sentio", "ARTime", "Numenta HTM", "Random Cut Forest"):
        assert name in result.stdout
    assert "above Numenta HTM (70.5)" in result.stdout


def test_cli_reports_a_missing_data_dir(tmp_path: Path) -> None:
    result = CliRunner().invoke(eval_app, ["nab", "--data", str(tmp_path / "none")])
    assert result.exit_code == 1
    assert "NAB data directory not found" in result.stderr


def test_cli_reports_unreadable_corpus(corpus_dir: Path) -> None:
    shutil.rmtree(corpus_dir / "labels")
    result = CliRunner().invoke(eval_app, ["nab", "--data", str(corpus_dir), "--jobs", "1"])
    assert result.exit_code == 1
    assert "combined_windows.json: file not found" in result.stderr
