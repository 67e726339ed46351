"""Load the Tennessee Eastman process files (Braatz's training and testing sets)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sentio.ai_engine.errors import DatasetError

FloatArray = npt.NDArray[np.float64]
VARIABLES = 52
FAULTS = tuple(range(1, 22))
UNDETECTABLE = (3, 9, 15)
FAULT_START = 160
TRAINING_FAULT_ROWS = 480
NAMES = tuple([f"XMEAS({i})" for i in range(1, 42)] + [f"XMV({i})" for i in range(1, 12)])
# Where each fault enters, as the literature names it (Downs & Vogel 1993; Chiang, Russell and
# Braatz 2000): the disturbed measurement and the manipulated variable of the loop that answers.
ROOT_VARIABLES: dict[int, tuple[str, ...]] = {
    1: ("XMEAS(1)", "XMEAS(4)", "XMV(3)", "XMV(4)"),
    4: ("XMEAS(9)", "XMV(10)"),
    5: ("XMEAS(22)", "XMV(11)"),
    6: ("XMEAS(1)", "XMV(3)"),
    7: ("XMEAS(4)", "XMV(4)"),
    10: ("XMEAS(18)",),
    11: ("XMEAS(9)", "XMV(10)"),
    12: ("XMEAS(22)", "XMV(11)"),
    14: ("XMEAS(9)", "XMEAS(21)", "XMV(10)"),
    21: ("XMV(4)",),
}


@dataclass(frozen=True)
class TepTraining:
    """The training files only: normal rows (``d00.dat``) and each fault's rows (``dNN.dat``)."""

    normal: FloatArray
    faults: dict[int, FloatArray]


@dataclass(frozen=True)
class TepData:
    """Normal training rows, normal test rows and each fault's test rows (rows by variables)."""

    train: FloatArray
    normal: FloatArray
    faults: dict[int, FloatArray]


def _read(path: Path, rows: int) -> FloatArray:
    if not path.is_file():
        raise DatasetError(f"{path}: missing (expected the TEP files d00.dat ... d21_te.dat)")
    try:
        data = np.loadtxt(path, dtype=np.float64)
    except ValueError as exc:
        raise DatasetError(f"{path}: not a table of numbers: {exc}") from exc
    if data.shape == (VARIABLES, rows):
        data = data.T
    if data.shape != (rows, VARIABLES):
        raise DatasetError(f"{path}: expected {rows} rows of {VARIABLES} values, got {data.shape}")
    return data


def _folder(root: Path) -> Path:
    if not root.is_dir():
        raise DatasetError(f"{root}: no such folder (expected the TEP data set)")
    return root


def load_training(root: Path) -> TepTraining:
    """Read the training files only: ``d00.dat`` (transposed) and ``d01.dat`` to ``d21.dat``."""
    normal = _read(_folder(root) / "d00.dat", 500)
    return TepTraining(
        normal, {k: _read(root / f"d{k:02d}.dat", TRAINING_FAULT_ROWS) for k in FAULTS}
    )


def load_tep(root: Path) -> TepData:
    """Read ``d00.dat`` (training, transposed), ``d00_te.dat`` and ``d01_te.dat`` to ``d21_te``."""
    train = _read(_folder(root) / "d00.dat", 500)
    normal = _read(root / "d00_te.dat", 960)
    faults = {k: _read(root / f"d{k:02d}_te.dat", 960) for k in FAULTS}
    return TepData(train, normal, faults)
