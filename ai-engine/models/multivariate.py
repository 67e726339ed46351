"""Per-device multivariate anomalies: what each channel does, and how the channels relate.

Each channel is scaled robustly, never by less than its resolution (the step of a quantized
sensor) or a floor learnt from the data, so a channel that sits at one value cannot produce an
unbounded score from a single step. On the scaled channels the model watches, per row:

- how the channels relate: PCA's Hotelling T² (inside the usual subspace) and Q (the squared
  residual off it, a broken correlation, each channel's residual in units of its own normal
  residual), each as is and smoothed (EWMA) for small lasting faults;
- each channel alone: its smoothed level, its smoothed square (spread) and its smoothed squared
  change (how it moves), and how long it has held one value (a stuck sensor or valve).

Every statistic is divided by its limit, learnt on held-out blocks of the normal history
(``margin`` times their ``quantile``), and the score is the largest of them: above 1 is anomalous
for as long as the fault lasts. Each row's explanation shares the score out over the channels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import SupportsIndex, overload

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
MAD_TO_SIGMA = 1.4826
RELATIVE_FLOOR = 0.01
GLOBAL = ("t2", "q", "t2_ewma", "q_ewma")
CHANNEL = ("level", "spread", "change")
SMOOTHED_CLIP = 6.0
MAX_CONTEXT_ROWS = 240
EWMA_GROWTH = 1e3
# The least residual variance a channel counts in (scaled units²): a tenth of its spread.
RESIDUAL_FLOOR = 0.01


def fill_forward(frame: FloatArray) -> FloatArray:
    """Return ``frame`` with each gap carried forward (and leading gaps back), zeros if empty."""
    rows, metrics = frame.shape
    filled = frame.copy()
    for j in range(metrics):
        column = filled[:, j]
        mask = np.isfinite(column)
        if not mask.any():
            column[:] = 0.0
            continue
        index = np.where(mask, np.arange(rows), 0)
        np.maximum.accumulate(index, out=index)
        column[:] = column[index]
        column[: int(np.argmax(mask))] = column[int(np.argmax(mask))]
    return filled


def ewma(x: FloatArray, alpha: float) -> FloatArray:
    """Return the exponentially weighted moving average of each column, starting from zero.

    Within blocks short enough that ``(1 - alpha)`` to the minus block length stays below
    ``EWMA_GROWTH``, each row is a weighted cumulative sum (an error of about ``EWMA_GROWTH``
    machine epsilons of the inputs' size, none of it accumulated); a loop over the blocks carries
    the average from one to the next.
    """
    rows = len(x)
    out = np.zeros(x.shape, dtype=np.float64)
    if rows == 0:
        return out
    keep = 1.0 - alpha
    size = 1 if keep <= 0.0 else int(max(1, min(rows, np.log(EWMA_GROWTH) // -np.log(keep))))
    blocks = -(-rows // size)
    padded = np.zeros((blocks * size, *x.shape[1:]))
    padded[:rows] = x
    shaped = padded.reshape(blocks, size, -1)
    k = np.arange(size, dtype=np.float64)[None, :, None]
    local = np.cumsum(shaped * keep**-k, axis=1) * (alpha * keep**k)  # from zero in each block
    # The average just before each block: its last row's own part, plus what is left of the last.
    before = np.zeros((blocks, shaped.shape[2]))
    decay = keep**size
    for b in range(1, blocks):
        before[b] = local[b - 1, -1] + decay * before[b - 1]
    local += keep ** (k + 1.0) * before[:, None, :]
    return local.reshape(blocks * size, *x.shape[1:])[:rows].copy()


def run_lengths(frame: FloatArray) -> FloatArray:
    """Return, per row and column, how many rows in a row the value has held (1 = it changed)."""
    rows = len(frame)
    index = np.arange(rows)[:, None]
    changed = np.ones(frame.shape, dtype=np.bool_)
    changed[1:] = frame[1:] != frame[:-1]
    last = np.maximum.accumulate(np.where(changed, index, 0), axis=0)
    return np.asarray(index - last + 1, dtype=np.float64)


def resolution(column: FloatArray) -> float:
    """Return the smallest step between the distinct values of a channel, 0 if it has one."""
    distinct = np.unique(column[np.isfinite(column)])
    return float(np.diff(distinct).min()) if len(distinct) > 1 else 0.0


def resolutions(frame: FloatArray) -> FloatArray:
    """Return each column's ``resolution``, all columns at once."""
    return sorted_resolutions(np.sort(np.where(np.isfinite(frame), frame, np.nan).T, axis=1))


def sorted_resolutions(ordered: FloatArray) -> FloatArray:
    """Return the ``resolution`` of each row of ``ordered`` (sorted, any NaN last)."""
    steps = np.diff(ordered, axis=1)
    moved = steps > 0
    smallest = np.where(moved, steps, np.inf).min(axis=1, initial=np.inf)
    return np.where(moved.any(axis=1), smallest, 0.0)


def sorted_median(ordered: FloatArray) -> FloatArray:
    """Return the median of each row of ``ordered`` (sorted, not empty), as ``np.median`` does."""
    n = ordered.shape[1]
    middle = ordered[:, n // 2]
    # A copy, not a view: a model keeps its centre, and must not keep every sorted row with it.
    return middle.copy() if n % 2 else (ordered[:, n // 2 - 1] + middle) / 2.0


@dataclass
class _Basis:
    """Scaling and principal subspace learnt from normal rows."""

    center: FloatArray
    scale: FloatArray
    mean: FloatArray
    components: FloatArray
    eigenvalues: FloatArray
    unit: FloatArray = field(default_factory=lambda: np.zeros(0))


@dataclass
class _Raw:
    """Unnormalised statistics of each row, and the scaled rows they came from."""

    scaled: FloatArray
    residual: FloatArray
    t2_weights: FloatArray
    smoothed: FloatArray
    smoothed_residual: FloatArray
    smoothed_t2_weights: FloatArray
    overall: dict[str, FloatArray]
    channel: dict[str, FloatArray]


def _tail(raw: _Raw, start: int) -> _Raw:
    """Return the statistics of the rows from ``start`` on."""
    return _Raw(
        raw.scaled[start:], raw.residual[start:], raw.t2_weights[start:], raw.smoothed[start:],
        raw.smoothed_residual[start:], raw.smoothed_t2_weights[start:],
        {k: v[start:] for k, v in raw.overall.items()},
        {k: v[start:] for k, v in raw.channel.items()},
    )  # fmt: skip


class Explanations(Sequence[dict[str, float]]):
    """Each row's share of blame per metric (rounded to 0.001), built only for the rows read."""

    def __init__(self, metrics: Sequence[str], shares: FloatArray) -> None:
        self.metrics = list(metrics)
        self.shares = shares

    def __len__(self) -> int:
        return len(self.shares)

    @overload
    def __getitem__(self, index: SupportsIndex) -> dict[str, float]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, float]]: ...

    def __getitem__(
        self, index: SupportsIndex | slice
    ) -> dict[str, float] | list[dict[str, float]]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        row = self.shares[index].tolist()
        return dict(zip(self.metrics, (round(v, 3) for v in row), strict=True))


@dataclass
class DeviceModel:
    """Scores one device's rows (by metric); scores above 1 are anomalous."""

    metrics: Sequence[str]
    variance: float = 0.9
    smoothing: float = 0.1
    quantile: float = 0.999
    margin: float = 2.0
    folds: int = 5
    clip: float = SMOOTHED_CLIP
    resolutions: Sequence[float] | None = None
    center: FloatArray = field(default_factory=lambda: np.zeros(0))
    scale: FloatArray = field(default_factory=lambda: np.zeros(0))
    mean: FloatArray = field(default_factory=lambda: np.zeros(0))
    components: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    eigenvalues: FloatArray = field(default_factory=lambda: np.zeros(0))
    overall_limits: FloatArray = field(default_factory=lambda: np.zeros(0))
    channel_limits: FloatArray = field(default_factory=lambda: np.zeros((0, 0)))
    channel_overall: FloatArray = field(default_factory=lambda: np.zeros(0))
    stuck_limits: FloatArray = field(default_factory=lambda: np.zeros(0))
    residual_weights: FloatArray = field(default_factory=lambda: np.ones((2, 0)))

    @property
    def window(self) -> int:
        """Return the rows of history a score needs before its first row to settle."""
        return int(np.ceil(3.0 / self.smoothing))

    @property
    def context(self) -> int:
        """Return the rows of history to score with: enough to settle and to see a stuck run."""
        longest = float(np.max(self.stuck_limits, initial=0.0))
        return int(min(max(self.window, longest + 1), MAX_CONTEXT_ROWS))

    @property
    def recovery_rows(self) -> int:
        """Return the rows after which no smoothed statistic can still hold the score above 1.

        Inputs to the smoothed statistics are clipped, so each has a largest possible value; once
        the rows are normal again it decays by ``1 - smoothing`` a row (its square for T² and Q),
        and this is how many rows it takes to fall from that value to half its limit, the other
        half being left to the normal rows' own part.
        """
        c, m, decay = self.clip, len(self.metrics), -np.log(1.0 - self.smoothing)
        limit = self.margin * self.channel_limits * self.channel_overall[:, None]
        linear = [
            float(np.max(c / limit[0])),
            float(np.max(c**2 / limit[1])),
            float(np.max((2 * c) ** 2 / limit[2])),
        ]
        largest = m * c**2  # the squared length of a clipped row, in scaled units
        squared = [
            largest / float(np.min(self.eigenvalues)) / (self.margin * self.overall_limits[2]),
            largest
            * float(np.max(self.residual_weights[1]))
            / (self.margin * self.overall_limits[3]),
        ]
        rows = [np.log(max(2 * r, 1.0)) / decay for r in linear]
        rows += [np.log(max(2 * r, 1.0)) / (2 * decay) for r in squared]
        return int(np.ceil(max(rows)))

    @property
    def fitted(self) -> bool:
        """Return whether the model has learnt from history."""
        return len(self.overall_limits) == len(GLOBAL)

    def _basis(self, frame: FloatArray, ordered: FloatArray | None = None) -> _Basis:
        """Learn the basis of ``frame``; ``ordered``, if given, is its columns sorted, as rows."""
        if ordered is None or len(frame) == 0:
            center = np.median(frame, axis=0)
            step = resolutions(frame)
        else:
            center = sorted_median(ordered)
            step = sorted_resolutions(ordered)
        mad = MAD_TO_SIGMA * np.median(np.abs(frame - center), axis=0)
        given = np.zeros(frame.shape[1]) if self.resolutions is None else self.resolutions
        typical = np.where(np.abs(center) > 0, np.abs(center), 1.0)
        floor = np.where(step > 0, step, RELATIVE_FLOOR * typical)
        scale = np.maximum.reduce([mad, frame.std(axis=0), np.asarray(given, float), floor])
        scaled = (frame - center) / scale
        mean = scaled.mean(axis=0)
        # The principal axes from the metrics' small covariance matrix, not an SVD of every row:
        # the same subspace and variances (up to each axis' sign, which no statistic sees).
        centred = scaled - mean
        values, vectors = np.linalg.eigh(centred.T @ centred)
        order = np.argsort(values)[::-1]
        eigen = np.maximum(values[order], 0.0) / max(len(frame) - 1, 1)
        total = float(eigen.sum())
        keep = 1 if total <= 0 else int(np.searchsorted(np.cumsum(eigen) / total, self.variance))
        keep = max(1, min(keep + 1, len(eigen)))
        eigen = np.maximum(eigen[:keep], 1e-6 * max(total, 1e-12))
        unit = np.where(step > 0, step, scale) / scale
        return _Basis(center, scale, mean, vectors[:, order[:keep]], eigen, unit)

    def _raw(self, basis: _Basis, frame: FloatArray, weights: FloatArray | None = None) -> _Raw:
        w = np.ones((2, frame.shape[1])) if weights is None else weights
        z = (frame - basis.center) / basis.scale - basis.mean
        p = basis.components
        t = z @ p
        t2_weights = (t / basis.eigenvalues) @ p.T
        residual = (z - t @ p.T) * np.sqrt(w[0])
        # A spike must not hold the smoothed statistics up for long after it ends.
        clipped = np.clip(z, -self.clip, self.clip)
        change = np.zeros_like(z)
        change[1:] = np.diff(clipped, axis=0)
        # The three smoothed inputs in one pass: the level, its square, its squared change.
        m = z.shape[1]
        smoothed = ewma(np.hstack([clipped, clipped**2, change**2]), self.smoothing)
        e = smoothed[:, :m]
        te = e @ p
        e_weights = (te / basis.eigenvalues) @ p.T
        e_residual = (e - te @ p.T) * np.sqrt(w[1])
        overall = {
            "t2": np.sum(t**2 / basis.eigenvalues, axis=1),
            "q": np.sum(residual**2, axis=1),
            "t2_ewma": np.sum(te**2 / basis.eigenvalues, axis=1),
            "q_ewma": np.sum(e_residual**2, axis=1),
        }
        channel = {
            "level": np.abs(e),
            "spread": smoothed[:, m : 2 * m],
            "change": smoothed[:, 2 * m :],
        }
        return _Raw(z, residual, t2_weights, e, e_residual, e_weights, overall, channel)

    def fit(self, frame: FloatArray) -> DeviceModel:
        """Learn the device's normal behaviour from history (rows by metrics)."""
        x = fill_forward(np.asarray(frame, dtype=np.float64))
        rows = len(x)
        warm = min(self.window, rows // (2 * self.folds))
        # Each column sorted once: a fold's columns sorted are these, less the held-out rows.
        by_value = np.argsort(np.ascontiguousarray(x.T), axis=1)
        ordered = np.take_along_axis(x.T, by_value, axis=1)
        basis = self._basis(x, ordered)
        unit = basis.unit
        raws, skips = [], []
        for held in np.array_split(np.arange(rows), self.folds):
            rest = np.ones(rows, dtype=np.bool_)
            rest[held] = False
            kept = ordered[rest[by_value]].reshape(x.shape[1], -1)
            # The rows before a block warm its smoothed statistics up (a smoothed statistic
            # that starts from zero runs low and would make the limit too tight); only the
            # block's own rows, which its basis never saw, are counted.
            lead = min(self.window, int(held[0]))
            raw = self._raw(self._basis(x[rest], kept), x[held[0] - lead : held[-1] + 1])
            raws.append(_tail(raw, lead))
            skips.append(warm if lead < self.window else 0)
        # Each channel's residual counts in units of its own normal residual, and never of less
        # than one resolution step, so a quantized channel cannot mask the others' relations.
        residual = np.concatenate([r.residual for r in raws]) ** 2
        smoothed = (
            np.concatenate([r.smoothed_residual[s:] for r, s in zip(raws, skips, strict=True)]) ** 2
        )
        shrink = self.smoothing / (2.0 - self.smoothing)  # an EWMA's variance over its input's
        self.residual_weights = 1.0 / np.vstack(
            [
                np.maximum(residual.mean(axis=0), np.maximum(unit**2, RESIDUAL_FLOOR)),
                np.maximum(
                    smoothed.mean(axis=0),
                    np.maximum((self.smoothing * unit) ** 2, shrink * RESIDUAL_FLOOR),
                ),
            ]
        )
        overall: dict[str, list[FloatArray]] = {k: [] for k in GLOBAL}
        channel: dict[str, list[FloatArray]] = {k: [] for k in CHANNEL}
        for r, skip in zip(raws, skips, strict=True):
            overall["t2"].append(r.overall["t2"])
            overall["t2_ewma"].append(r.overall["t2_ewma"][skip:])
            for k in CHANNEL:
                channel[k].append(r.channel[k][skip:])
        overall["q"] = [residual @ self.residual_weights[0]]
        overall["q_ewma"] = [smoothed @ self.residual_weights[1]]
        self.center, self.scale, self.mean = basis.center, basis.scale, basis.mean
        self.components, self.eigenvalues = basis.components, basis.eigenvalues
        # One resolution step on one channel for one row is never alarming alone: in scaled
        # units it adds at most unit² to T², at most 1 to the weighted Q, and the smoothing
        # factor times that to a smoothed statistic.
        t2_floor = float(np.max(unit**2))
        floors = {"t2": t2_floor, "q": 1.0, "t2_ewma": t2_floor, "q_ewma": 1.0}
        # The smoothed T² and Q of a short window: never below what the unsmoothed ones (many
        # more independent values) give, T² shrunk by the EWMA's variance ratio, Q (each channel
        # in units of its own smoothed residual) as is.
        raw_t2 = float(np.quantile(np.concatenate(overall["t2"]), self.quantile))
        raw_q = float(np.quantile(overall["q"][0], self.quantile))
        floors["t2_ewma"] = max(floors["t2_ewma"], shrink * raw_t2)
        floors["q_ewma"] = max(floors["q_ewma"], raw_q)
        self.overall_limits = np.array(
            [max(float(np.quantile(np.concatenate(overall[k]), self.quantile)), floors[k])
             for k in GLOBAL]
        )  # fmt: skip
        # A smoothed statistic moves slowly, so a short window holds few independent values of
        # it and their quantile runs low: never below what the held-out rows' own moments give
        # (a Gaussian channel's quantile of its EWMA, from thousands of unsmoothed values).
        held = np.clip(np.concatenate([r.scaled for r in raws]), -self.clip, self.clip)
        moved = np.concatenate([np.diff(r.scaled, axis=0) for r in raws if len(r.scaled) > 1])
        moved = np.clip(moved, -2 * self.clip, 2 * self.clip) ** 2
        z = NormalDist().inv_cdf(self.quantile)
        spread_sd = np.sqrt(2.0 * shrink)
        channel_floor = {
            "level": np.maximum(self.smoothing * unit, z * np.sqrt(shrink) * held.std(axis=0)),
            "spread": np.maximum(
                self.smoothing * unit**2, (held**2).mean(axis=0) * (1 + z * spread_sd)
            ),
            "change": np.maximum(
                self.smoothing * unit**2, moved.mean(axis=0) * (1 + z * spread_sd)
            ),
        }
        limits = []
        largest = []
        for k in CHANNEL:
            values = np.concatenate(channel[k])
            limit = np.maximum(np.quantile(values, self.quantile, axis=0), channel_floor[k])
            limits.append(limit)
            largest.append(max(float(np.quantile((values / limit).max(axis=1), self.quantile)), 1))
        self.channel_limits = np.vstack(limits)
        self.channel_overall = np.array(largest)
        self.stuck_limits = 2.0 * run_lengths(x).max(axis=0) + 2.0
        return self

    def _basis_of(self) -> _Basis:
        return _Basis(self.center, self.scale, self.mean, self.components, self.eigenvalues)

    def parts(self, frame: FloatArray) -> tuple[dict[str, FloatArray], FloatArray]:
        """Return each statistic over its limit per row, and each channel's share of blame."""
        if not self.fitted:
            raise ValueError("DeviceModel.score called before fit")
        x = fill_forward(np.asarray(frame, dtype=np.float64))
        raw = self._raw(self._basis_of(), x, self.residual_weights)
        limit = self.margin * self.overall_limits
        out: dict[str, FloatArray] = {k: raw.overall[k] / limit[i] for i, k in enumerate(GLOBAL)}
        # Each channel's part of each statistic, in the statistic's own units over its limit.
        blame = [
            np.maximum(raw.scaled * raw.t2_weights, 0.0) / limit[0],
            raw.residual**2 / limit[1],
            np.maximum(raw.smoothed * raw.smoothed_t2_weights, 0.0) / limit[2],
            raw.smoothed_residual**2 / limit[3],
        ]
        for i, k in enumerate(CHANNEL):
            per_channel = raw.channel[k] / (self.margin * self.channel_limits[i])
            per_channel /= self.channel_overall[i]
            out[k] = per_channel.max(axis=1)
            blame.append(per_channel)
        stuck = run_lengths(x) / self.stuck_limits
        out["stuck"] = stuck.max(axis=1)
        blame.append(stuck)
        return out, np.max(blame, axis=0)

    def score(self, frame: FloatArray) -> tuple[FloatArray, Explanations]:
        """Return a score per row (above 1 = anomalous) and each row's metric contributions."""
        parts, blame = self.parts(frame)
        score = np.max(np.vstack(list(parts.values())), axis=0)
        totals = blame.sum(axis=1, keepdims=True)
        shares = np.divide(blame, totals, out=np.zeros_like(blame), where=totals > 0)
        return score, Explanations(self.metrics, shares)

    def to_arrays(self) -> dict[str, FloatArray]:
        """Return the learnt state as plain arrays (for ``np.savez``)."""
        return {
            "center": self.center,
            "scale": self.scale,
            "mean": self.mean,
            "components": self.components,
            "eigenvalues": self.eigenvalues,
            "overall_limits": self.overall_limits,
            "channel_limits": self.channel_limits,
            "channel_overall": self.channel_overall,
            "stuck_limits": self.stuck_limits,
            "residual_weights": self.residual_weights,
            "settings": np.array(
                [self.variance, self.smoothing, self.quantile, self.margin, self.folds, self.clip]
            ),
        }

    @classmethod
    def from_arrays(cls, metrics: Sequence[str], arrays: dict[str, FloatArray]) -> DeviceModel:
        """Rebuild a fitted model from ``to_arrays``' output."""
        settings = [float(v) for v in arrays["settings"]]
        variance, smoothing, quantile, margin, folds = settings[:5]
        clip = settings[5] if len(settings) > 5 else SMOOTHED_CLIP  # states saved before `clip`
        model = cls(list(metrics), variance, smoothing, quantile, margin, int(folds), clip)
        for name in (
            "center", "scale", "mean", "components", "eigenvalues", "overall_limits",
            "channel_limits", "channel_overall", "stuck_limits", "residual_weights",
        ):  # fmt: skip
            setattr(model, name, np.asarray(arrays[name], dtype=np.float64))
        if model.components.shape[0] != len(model.metrics) or not model.fitted:
            raise ValueError("device model arrays do not match its metrics")
        return model
