"""Write per-row scores in NAB's results layout: ``<detector>/<category>/<detector>_<file>``."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sentio.ai_engine.errors import AiEngineError
from sentio.ai_engine.nab.corpus import NabSeries
from sentio.ai_engine.nab.scorer import FloatArray

COLUMNS = ("timestamp", "value", "anomaly_score", "label")


def results_path(root: Path, detector: str, series: NabSeries) -> Path:
    """Return where NAB expects ``detector``'s results for ``series``."""
    return root / detector / series.category / f"{detector}_{series.stem}"


def write_results(
    root: Path, detector: str, series: Sequence[NabSeries], scores: Sequence[FloatArray]
) -> list[Path]:
    """Write one CSV per series with its rows, scores and window labels; return the paths."""
    written = []
    for item, row_scores in zip(series, scores, strict=True):
        path = results_path(root, detector, item)
        labels = np.zeros(len(item.values), dtype=np.int64)
        for start, end in item.windows:
            labels[start : end + 1] = 1
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w", newline="", encoding="utf-8") as handle:
                writer = csv.writer(handle)
                writer.writerow(COLUMNS)
                for row in zip(
                    item.timestamps,
                    item.values.tolist(),
                    row_scores.tolist(),
                    labels.tolist(),
                    strict=True,
                ):
                    writer.writerow(row)
        except OSError as exc:
            raise AiEngineError(f"{path}: cannot write results: {exc.strerror}") from exc
        written.append(path)
    return written
