"""Load the NAB corpus: series, labelled anomaly windows and cost profiles."""

from __future__ import annotations

import csv
import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sentio.ai_engine.errors import DatasetError

PROBATION_FRACTION = 0.15
PROBATION_MAX_ROWS = 750
PROFILE_NAMES = ("standard", "reward_low_FP_rate", "reward_low_FN_rate")


def probationary_rows(n_rows: int) -> int:
    """Return how many leading rows of an ``n_rows`` series are probationary."""
    return min(math.floor(PROBATION_FRACTION * n_rows), PROBATION_MAX_ROWS)


@dataclass(frozen=True)
class CostMatrix:
    """Weights of one scoring profile."""

    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class NabSeries:
    """One labelled series: its rows and its anomaly windows as inclusive row ranges."""

    name: str
    timestamps: tuple[str, ...]
    values: npt.NDArray[np.float64]
    windows: tuple[tuple[int, int], ...]

    @property
    def category(self) -> str:
        """Return the folder the file sits in, e.g. ``realKnownCause``."""
        return self.name.rsplit("/", 1)[0] if "/" in self.name else ""

    @property
    def stem(self) -> str:
        """Return the file name without folder, e.g. ``nyc_taxi.csv``."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def probation(self) -> int:
        """Return the number of probationary rows."""
        return probationary_rows(len(self.values))


@dataclass(frozen=True)
class NabCorpus:
    """Every series of the corpus, in name order, and the cost profiles."""

    series: tuple[NabSeries, ...]
    profiles: dict[str, CostMatrix]

    @property
    def n_rows(self) -> int:
        """Return the total number of rows."""
        return sum(len(s.values) for s in self.series)

    @property
    def n_windows(self) -> int:
        """Return the total number of anomaly windows."""
        return sum(len(s.windows) for s in self.series)


def load_corpus(root: Path) -> NabCorpus:
    """Load the corpus under ``root`` (with ``data/``, ``labels/`` and ``config/``)."""
    if not root.is_dir():
        raise DatasetError(f"{root}: NAB data directory not found")
    data_dir = root / "data"
    if not data_dir.is_dir():
        raise DatasetError(f"{data_dir}: missing; expected data/<category>/<file>.csv")
    windows = _read_json(root / "labels" / "combined_windows.json")
    if not isinstance(windows, dict):
        raise DatasetError(f"{root / 'labels' / 'combined_windows.json'}: expected an object")
    profiles = load_profiles(root / "config" / "profiles.json")
    names = sorted(p.relative_to(data_dir).as_posix() for p in data_dir.glob("*/*.csv"))
    if not names:
        raise DatasetError(f"{data_dir}: no CSV files under data/<category>/")
    unknown = sorted(set(windows) - set(names))
    if unknown:
        raise DatasetError(f"{root / 'labels'}: windows for missing data files: {unknown[:3]}")
    series = []
    for name in names:
        if name not in windows:
            raise DatasetError(f"{data_dir / name}: no entry in labels/combined_windows.json")
        timestamps, values = read_series(data_dir / name)
        rows = window_rows(timestamps, windows[name], data_dir / name)
        series.append(NabSeries(name, timestamps, values, rows))
    return NabCorpus(tuple(series), profiles)


def read_series(path: Path) -> tuple[tuple[str, ...], npt.NDArray[np.float64]]:
    """Read a ``timestamp,value`` CSV file; raise DatasetError naming the line on bad input."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or [h.strip() for h in header] != ["timestamp", "value"]:
                raise DatasetError(f"{path}:1: expected header 'timestamp,value', got {header}")
            stamps: list[str] = []
            values: list[float] = []
            for row in reader:
                if not row:
                    continue
                line = reader.line_num
                if len(row) != 2:
                    raise DatasetError(f"{path}:{line}: expected 2 columns, got {len(row)}")
                try:
                    value = float(row[1])
                except ValueError:
                    raise DatasetError(f"{path}:{line}: value {row[1]!r} is not a number") from None
                if not math.isfinite(value):
                    raise DatasetError(f"{path}:{line}: value {row[1]!r} is not finite")
                stamps.append(row[0].strip())
                values.append(value)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text") from exc
    if not values:
        raise DatasetError(f"{path}: no data rows")
    _parse_times(stamps, path)
    return tuple(stamps), np.asarray(values, dtype=np.float64)


def window_rows(
    timestamps: tuple[str, ...], windows: Any, path: Path
) -> tuple[tuple[int, int], ...]:
    """Map ``[[start, end], ...]`` timestamps to sorted, disjoint inclusive row ranges."""
    if not isinstance(windows, list):
        raise DatasetError(f"{path}: windows must be a list of [start, end] pairs")
    times = _parse_times(list(timestamps), path)
    rows: list[tuple[int, int]] = []
    for window in windows:
        if not (isinstance(window, list) and len(window) == 2):
            raise DatasetError(f"{path}: window {window!r} is not a [start, end] pair")
        start, end = _parse_times([str(window[0]), str(window[1])], path)
        # Timestamps may step back (a clock change), so a window spans every row inside it.
        inside = np.flatnonzero((times >= start) & (times <= end))
        if len(inside) == 0:
            raise DatasetError(f"{path}: window {window!r} covers no row")
        rows.append((int(inside[0]), int(inside[-1])))
    rows.sort()
    for (_, prev_end), (start_row, _) in itertools.pairwise(rows):
        if start_row <= prev_end:
            raise DatasetError(f"{path}: anomaly windows overlap at row {start_row}")
    return tuple(rows)


def load_profiles(path: Path) -> dict[str, CostMatrix]:
    """Read the three NAB cost matrices from ``profiles.json``."""
    raw = _read_json(path)
    profiles: dict[str, CostMatrix] = {}
    for name in PROFILE_NAMES:
        try:
            matrix = raw[name]["CostMatrix"]
            profiles[name] = CostMatrix(
                tp=float(matrix["tpWeight"]),
                fp=float(matrix["fpWeight"]),
                fn=float(matrix["fnWeight"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: profile {name!r} lacks a valid CostMatrix") from exc
    return profiles


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: malformed JSON: {exc}") from exc


def _parse_times(stamps: list[str], path: Path) -> npt.NDArray[np.datetime64]:
    try:
        times = np.array(stamps, dtype="datetime64[us]")
    except ValueError as exc:
        raise DatasetError(f"{path}: bad timestamp: {exc}") from exc
    return times
