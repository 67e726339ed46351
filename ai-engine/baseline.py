"""What a device's model may learn from: alarming periods left out, re-baselines, new normals.

A device's history keeps the periods its score was above 1 (merged across gaps shorter than
``gap``) and, after a re-baseline, the time its new baseline starts: a refit learns only from
rows after that time and outside those periods. A device alarming for ``settle_s`` whose recent
rows agree with themselves (a model fitted on the first half scores the second half normal) has
changed its operating point for good: its model is refitted on those rows and the change is
logged once. Operators ask for a re-baseline (after maintenance) with ``sentio ai rebaseline``,
which leaves a request file under the state folder for the engine's next cycle.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from sentio.ai_engine.errors import StateError
from sentio.ai_engine.models.multivariate import DeviceModel, FloatArray, run_lengths

BoolArray = npt.NDArray[np.bool_]
STATIONARY_SHARE = 0.05
REQUESTS = "rebaseline"


@dataclass
class DeviceHistory:
    """A device's alarming periods (unix seconds) and where its current baseline starts."""

    since: int | None = None
    alarms: list[list[int]] = field(default_factory=list)

    def record(self, ts: npt.NDArray[np.int64], above: BoolArray, gap: int) -> None:
        """Add the scored rows' alarming runs, merging those less than ``gap`` apart."""
        for t in ts[above].tolist():
            if self.alarms and t - self.alarms[-1][1] <= gap:
                self.alarms[-1][1] = max(self.alarms[-1][1], int(t))
            else:
                self.alarms.append([int(t), int(t)])

    def alarming_for(self, now: int, gap: int) -> int:
        """Return how long the device has been alarming up to ``now`` (0 if it is not)."""
        if not self.alarms or now - self.alarms[-1][1] > gap:
            return 0
        return now - self.alarms[-1][0]

    def learnable(self, ts: npt.NDArray[np.int64], margin: int) -> BoolArray:
        """Return which rows a fit may learn from: after ``since``, off every alarm period."""
        keep = np.ones(len(ts), dtype=np.bool_)
        if self.since is not None:
            keep &= ts >= self.since
        for start, end in self.alarms:
            keep &= (ts < start - margin) | (ts > end + margin)
        return keep

    def prune(self, oldest: int) -> None:
        """Forget alarm periods that ended before ``oldest``."""
        self.alarms = [a for a in self.alarms if a[1] >= oldest]

    def rebaseline(self, since: int) -> None:
        """Start the baseline at ``since``: nothing earlier, and no alarm so far, is learnt."""
        self.since = since
        self.alarms = []


def settled(model: DeviceModel, frame: FloatArray) -> bool:
    """Return whether ``frame`` is a steady new state: self-consistent, no channel newly stuck."""
    half = len(frame) // 2
    if half < 2 * model.folds:
        return False
    held = run_lengths(frame).max(axis=0)
    if np.any((held >= len(frame)) & (model.stuck_limits < len(frame))):
        return False  # a sensor or valve stuck for the whole window is a fault, not a new normal
    first = DeviceModel(list(model.metrics), model.variance, model.smoothing, model.quantile,
                        model.margin, model.folds, model.clip).fit(frame[:half])  # fmt: skip
    score, _ = first.score(frame[half:])
    return float(np.mean(score > 1.0)) <= STATIONARY_SHARE


def _request_path(state_dir: Path, query: str, device: str) -> Path:
    digest = hashlib.sha256(f"{query}\0{device}".encode()).hexdigest()[:16]
    return state_dir / REQUESTS / f"{digest}.json"


def request_rebaseline(state_dir: Path, query: str, device: str, since: int) -> Path:
    """Leave a re-baseline request for the engine's next cycle; return its file."""
    path = _request_path(state_dir, query, device)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"query": query, "device": device, "since": since}))
    tmp.replace(path)
    return path


def take_requests(state_dir: Path, query: str) -> list[tuple[str, int, Path]]:
    """Return the pending re-baseline requests of ``query`` as (device, since, file).

    The caller removes the file of a request it applied; a request for a device on another
    shard stays for that shard's engine.
    """
    folder = state_dir / REQUESTS
    out = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            request = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StateError(f"{path}: unreadable re-baseline request: {exc}") from exc
        if request.get("query") != query:
            continue
        out.append((str(request["device"]), int(request["since"]), path))
    return out
