"""What the engine learns about one query, and how it is kept on disk without pickle.

A state file is an ``.npz`` archive (``np.savez``, read with ``allow_pickle=False``): plain arrays
plus one JSON document (``meta``) of labels, choices and settings, so loading it cannot run code.
Streaming detectors (``envelope`` and registered models) keep state no plain array holds: they are
not saved, and a restored query with any of them fits again at once, which warms them up anew.
"""

from __future__ import annotations

import io
import json
import os
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sentio.ai_engine.baseline import DeviceHistory
from sentio.ai_engine.errors import StateError
from sentio.ai_engine.models.base import StreamingDetector
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.ai_engine.models.robust import RobustStream
from sentio.ai_engine.models.seasonal import SeasonalBaseline
from sentio.ai_engine.reader import LabelSet

STATE_VERSION = 4
PACKED_SINCE = 4  # from this version each kind of model array is one archive member
DIR_MODE = 0o700
FILE_MODE = 0o600


@dataclass
class QueryState:
    """Everything learned about one query's series; saved after every cycle."""

    keys: list[LabelSet] = field(default_factory=list)
    robust: RobustStream = field(default_factory=RobustStream)
    seasonal: dict[LabelSet, SeasonalBaseline] = field(default_factory=dict)
    choice: dict[LabelSet, str] = field(default_factory=dict)
    envelope: dict[LabelSet, StreamingDetector] = field(default_factory=dict)
    devices: dict[LabelSet, DeviceModel] = field(default_factory=dict)
    history: dict[LabelSet, DeviceHistory] = field(default_factory=dict)
    last_ts: int | None = None
    fitted_at: float | None = None


def state_path(state_dir: Path, query: str, shard: tuple[int, int]) -> Path:
    """Return the state file of one query's shard ``index`` of ``count``."""
    index, count = shard
    return state_dir / f"{query}.shard-{index}-of-{count}.npz"


def _key(raw: Any) -> LabelSet:
    return tuple((str(k), str(v)) for k, v in raw)


def _joined(arrays: list[Any]) -> Any:
    """Return the arrays flattened end to end (float64)."""
    if not arrays:
        return np.zeros(0)
    return np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])


def _split(flat: Any, shapes: list[list[int]]) -> list[Any]:
    """Return ``flat`` cut back into arrays of ``shapes``, in order."""
    sizes = [int(np.prod(shape)) for shape in shapes]
    if sum(sizes) != len(flat):
        raise ValueError("the packed arrays do not match their shapes")
    if not shapes:
        return []
    cuts = np.cumsum(sizes)[:-1]
    return [a.reshape(shape) for a, shape in zip(np.split(flat, cuts), shapes, strict=True)]


def encode(state: QueryState) -> bytes:
    """Return the state as the bytes of an ``.npz`` archive."""
    arrays: dict[str, Any] = {
        "robust.center": state.robust.center,
        "robust.scale": state.robust.scale,
        "robust.count": state.robust.count,
    }
    index = {key: i for i, key in enumerate(state.keys)}
    seasonal = []
    for key, model in state.seasonal.items():
        seasonal.append(
            {"key": index[key], "bucket_s": model.bucket_s, "weekly": model.weekly,
             "k": model.k, "min_samples": model.min_samples, "size": len(model.median)}
        )  # fmt: skip
    # Each kind of array of every model in one archive member: thousands of members are slow.
    models = list(state.seasonal.values())
    arrays["seasonal.median"] = _joined([m.median for m in models])
    arrays["seasonal.sigma"] = _joined([m.sigma for m in models])
    devices = []
    parts: dict[str, list[Any]] = {}
    for gkey, device in state.devices.items():
        held = device.to_arrays()
        devices.append(
            {"key": [list(kv) for kv in gkey], "metrics": list(device.metrics),
             "shapes": {name: list(np.shape(values)) for name, values in held.items()}}
        )  # fmt: skip
        for name, values in held.items():
            parts.setdefault(name, []).append(values)
    for name, each in parts.items():
        arrays[f"device.{name}"] = _joined(each)
    meta = {
        "version": STATE_VERSION,
        "keys": [[list(kv) for kv in key] for key in state.keys],
        "robust": {"alpha": state.robust.alpha, "k": state.robust.k, "warmup": state.robust.warmup},
        "choice": [[index[key], choice] for key, choice in state.choice.items()],
        "seasonal": seasonal,
        "devices": devices,
        "history": [
            {"key": [list(kv) for kv in gkey], "since": h.since, "alarms": h.alarms}
            for gkey, h in state.history.items()
        ],
        "last_ts": state.last_ts,
        "fitted_at": state.fitted_at,
    }
    buffer = io.BytesIO()
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(buffer, allow_pickle=False, **arrays)
    return buffer.getvalue()


def decode(data: bytes) -> QueryState | None:
    """Return the state held in ``data``, None if another version wrote it; raise if corrupt."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
        version = meta.get("version")
        if version not in (PACKED_SINCE - 1, STATE_VERSION):
            return None
        packed = version >= PACKED_SINCE
        keys = [_key(raw) for raw in meta["keys"]]
        robust = RobustStream(
            alpha=float(meta["robust"]["alpha"]),
            k=float(meta["robust"]["k"]),
            warmup=int(meta["robust"]["warmup"]),
            center=arrays["robust.center"].astype(np.float64),
            scale=arrays["robust.scale"].astype(np.float64),
            count=arrays["robust.count"].astype(np.float64),
        )
        if not len(robust.center) == len(robust.scale) == len(robust.count) == len(keys):
            raise ValueError("the streaming state does not match the series")
        state = QueryState(keys=keys, robust=robust)
        state.choice = {keys[int(i)]: str(choice) for i, choice in meta["choice"]}
        if packed:
            sizes = [[int(raw["size"])] for raw in meta["seasonal"]]
            medians = _split(arrays["seasonal.median"], sizes)
            sigmas = _split(arrays["seasonal.sigma"], sizes)
        else:  # one member per array (version 3)
            medians = [arrays[f"seasonal.{i}.median"] for i in range(len(meta["seasonal"]))]
            sigmas = [arrays[f"seasonal.{i}.sigma"] for i in range(len(meta["seasonal"]))]
        for raw, median, sigma in zip(meta["seasonal"], medians, sigmas, strict=True):
            state.seasonal[keys[int(raw["key"])]] = SeasonalBaseline(
                bucket_s=int(raw["bucket_s"]),
                weekly=bool(raw["weekly"]),
                k=float(raw["k"]),
                min_samples=int(raw["min_samples"]),
                median=median.astype(np.float64),
                sigma=sigma.astype(np.float64),
            )
        held: dict[str, list[Any]] = {}
        if packed and meta["devices"]:
            for name in meta["devices"][0]["shapes"]:
                shapes = [raw["shapes"][name] for raw in meta["devices"]]
                held[name] = _split(arrays[f"device.{name}"], shapes)
        for i, raw in enumerate(meta["devices"]):
            if packed:
                parts = {name: split[i] for name, split in held.items()}
            else:
                prefix = f"device.{i}."
                parts = {n[len(prefix) :]: a for n, a in arrays.items() if n.startswith(prefix)}
            state.devices[_key(raw["key"])] = DeviceModel.from_arrays(raw["metrics"], parts)
        for raw in meta.get("history", []):  # absent from states saved before it existed
            since = None if raw["since"] is None else int(raw["since"])
            alarms = [[int(a), int(b)] for a, b in raw["alarms"]]
            state.history[_key(raw["key"])] = DeviceHistory(since, alarms)
        state.last_ts = None if meta["last_ts"] is None else int(meta["last_ts"])
        state.fitted_at = None if meta["fitted_at"] is None else float(meta["fitted_at"])
    except (OSError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise StateError(f"not a state archive: {exc}") from exc
    except (ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise StateError(f"malformed state: {exc!r}") from exc
    return state


def save_state(path: Path, state: QueryState) -> None:
    """Write the state atomically, readable by its owner only."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(path.parent.stat().st_mode) != DIR_MODE:
        path.parent.chmod(DIR_MODE)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as file:
        file.write(encode(state))
    tmp.replace(path)


def load_state(path: Path) -> QueryState | None:
    """Read a state file; None if there is none or another version wrote it; raise if corrupt."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateError(f"cannot read AI state {path}: {exc}") from exc
    try:
        return decode(data)
    except StateError as exc:
        raise StateError(f"{path}: {exc}") from exc
