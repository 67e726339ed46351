"""One query's fit and infer cycles: read the series, score them, forecast, write findings."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
from sentio.ai_engine.baseline import DeviceHistory, settled, take_requests
from sentio.ai_engine.episodes import Episodes, log_attributes
from sentio.ai_engine.errors import AiEngineError, CycleStopped, StateError
from sentio.ai_engine.models.base import StreamingDetector
from sentio.ai_engine.models.envelope import EnvelopeDetector
from sentio.ai_engine.models.forecast import Forecast, RiskHorizons, Threshold, forecasts
from sentio.ai_engine.models.multivariate import DeviceModel, Explanations
from sentio.ai_engine.models.robust import FloatArray, RobustStream
from sentio.ai_engine.models.seasonal import DAY_S, SeasonalBaseline
from sentio.ai_engine.reader import Keep, LabelSet, PromReader, Series, group
from sentio.ai_engine.state import QueryState, load_state, save_state, state_path
from sentio.ai_engine.writer import Finding, FindingWriter, OutputStream, ScoreBlock

from sentio import shards
from sentio.config import AIQueryConfig

MIN_DEVICE_ROWS = 50
VALIDATION_SHARE = 0.2
# The score above which the envelope detector alarms: the threshold NAB's standard profile chooses
# over the whole corpus for its own score, without the NAB runner's hold-off (which `sentio eval
# nab` adds, choosing 0.3493 for that).
ENVELOPE_ALARM = 0.5356
ENVELOPE_WARMUP_ROWS = 5000
MODELS_GROUP = "sentio.models"
BUILTIN_MODELS = ("auto", "robust", "seasonal", "envelope", "multivariate")
UNIVARIATE = ("robust", "seasonal")
DEVICE_MODEL = "multivariate"
# Alarming rows fewer than this many steps apart are one alarm period; rows this close to one
# are left out of refits too.
ALARM_GAP_STEPS = 5
log = logging.getLogger("sentio.ai")


@dataclass
class CycleStats:
    """What one fit or infer cycle did."""

    phase: str
    query: str
    series: int = 0
    findings: int = 0
    anomalies: int = 0
    seconds: float = 0.0


def in_shard(key: LabelSet, shard: tuple[int, int]) -> bool:
    """Return whether ``key`` is in shard ``index`` of ``count``."""
    index, count = shard
    return shards.in_shard(repr(key), index, count)


def shard_key(labels: dict[str, str], group_by: list[str]) -> LabelSet:
    """Return what a series is sharded by: its group's labels, so a device stays on one shard."""
    if group_by:
        return tuple((name, labels.get(name, "")) for name in group_by)
    return tuple(sorted(labels.items()))


def shard_filter(group_by: list[str], shard: tuple[int, int]) -> Keep | None:
    """Return what keeps a shard's series from a listing (None: one shard keeps them all)."""
    if shard[1] <= 1:
        return None

    def mine(labels: dict[str, str]) -> bool:
        return in_shard(shard_key(labels, group_by), shard)

    return mine


def tails(page: list[Series], start: int) -> list[Series]:
    """Return each series' part from ``start`` on (views, not copies), dropping empty ones."""
    out = []
    for s in page:
        values = s.values[max(0, (start - s.start) // s.step) :]
        if len(values) and not np.isnan(values).all():
            out.append(
                Series(s.labels, s.start + (len(s.values) - len(values)) * s.step, s.step, values)
            )
    return out


async def _no_pages() -> AsyncIterator[list[Series]]:
    return
    yield


def matrix(series: list[Series]) -> FloatArray:
    """Stack series values into a series-by-time matrix."""
    return np.vstack([s.values for s in series]) if series else np.zeros((0, 0))


def envelope_scores(
    detector: StreamingDetector,
    timestamps: np.ndarray,
    values: FloatArray,
    alarm: float = ENVELOPE_ALARM,
) -> FloatArray:
    """Feed points to a streaming detector; return its scores divided by its alarm level."""
    out = np.full(len(values), np.nan)
    for j, (ts, value) in enumerate(zip(timestamps, values, strict=True)):
        if np.isfinite(value):
            out[j] = detector.update(float(ts), float(value)) / alarm
    return out


def _alarm(detector: StreamingDetector) -> float:
    if isinstance(detector, EnvelopeDetector):
        return ENVELOPE_ALARM
    return float(getattr(detector, "alarm", 1.0))


def custom_model(name: str) -> Callable[[], StreamingDetector]:
    """Return the factory of a model registered under the entry-point group `sentio.models`.

    A custom model is a class whose instances score one series: ``update(timestamp, value)``
    returns a score where 1 is its alarm level (an ``alarm`` class attribute may say otherwise).
    """
    found = {ep.name: ep for ep in entry_points(group=MODELS_GROUP)}
    if name not in found:
        known = ", ".join(sorted(found)) or "none"
        raise AiEngineError(
            f"model {name!r} is neither built in ({', '.join(BUILTIN_MODELS)}) nor registered "
            f"in the entry-point group {MODELS_GROUP!r} (registered: {known})"
        )
    factory: Callable[[], StreamingDetector] = found[name].load()
    return factory


def validation_choice(
    ts: np.ndarray, values: FloatArray, robust_expected: FloatArray | None = None
) -> str:
    """Pick the univariate model whose expected value was closer on the newest history.

    ``robust_expected`` is the streaming model's expectation over the same rows, when the
    caller already ran it (as a fit does, for all series at once).
    """
    split = int(len(values) * (1 - VALIDATION_SHARE))
    if ts[split - 1] - ts[0] < 2 * DAY_S if split > 0 else True:
        return "robust"
    seasonal = SeasonalBaseline().fit(ts[:split], values[:split])
    _, s_expected, *_ = seasonal.score(ts[split:], values[split:])
    if robust_expected is None:
        robust_expected = RobustStream().run(values[None, :])[1][0]
    actual = values[split:]
    ok = np.isfinite(actual) & np.isfinite(s_expected)
    if ok.mean() < 0.9:
        return "robust"
    s_err = float(np.mean(np.abs(actual[ok] - s_expected[ok])))
    r_err = float(np.mean(np.abs(actual[ok] - robust_expected[split:][ok])))
    return "seasonal" if s_err < r_err else "robust"


class QueryEngine:
    """Fit and infer one configured query against VictoriaMetrics."""

    def __init__(
        self,
        query: AIQueryConfig,
        reader: PromReader,
        writer: FindingWriter,
        state_dir: Path,
        events: logging.Logger | None = None,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        self.query = query
        self.reader = reader
        self.writer = writer
        self.path = state_path(state_dir, query.name, shard)
        self.events = events or logging.getLogger("sentio.ai")
        self.shard = shard
        self.state = QueryState()
        self.stopping: asyncio.Event | None = None  # set: stop the cycle at the next page
        self.next_settle: dict[LabelSet, int] = {}  # when to look again at a lasting alarm
        self.lasting: list[LabelSet] = []  # devices whose alarm has lasted settle_s this cycle
        self.episodes = Episodes(self.events, query.name)  # logged per episode, not per point
        if query.model not in BUILTIN_MODELS:
            custom_model(query.model)  # fail at start, naming the group, not at the first fit
        if query.model == DEVICE_MODEL and not query.group_by:
            raise AiEngineError(
                f"query {query.name!r}: model {DEVICE_MODEL!r} scores devices and needs `group_by`"
            )

    def load(self) -> bool:
        """Restore the saved state; return whether there was one (a corrupt one is reported)."""
        try:
            state = load_state(self.path)
        except StateError as exc:
            log.error(
                "AI state of %s unusable, fitting again: %s", self.query.name, exc,
                extra={"query": self.query.name, "path": str(self.path)},
            )  # fmt: skip
            return False
        if state is None:
            return False
        if any(choice not in UNIVARIATE for choice in state.choice.values()):
            state.fitted_at = None  # streaming detectors are not saved: warm them up again
        self.state = state
        return True

    def save(self) -> None:
        """Write the state atomically."""
        save_state(self.path, self.state)

    async def _pages(self, start: int, end: int) -> AsyncIterator[list[Series]]:
        """Yield this shard's series of the query over [start, end], a page at a time."""
        q, by = self.query, self.query.group_by
        keep = shard_filter(by, self.shard)  # the reader lists, then reads only these
        async for page in self.reader.pages(q.promql, start, end, q.step_s, by, keep=keep):
            if self.stopping is not None and self.stopping.is_set():
                raise CycleStopped(f"query {q.name!r}: stopped between pages")
            kept = [s for s in page if in_shard(shard_key(s.labels, by), self.shard)]
            if kept:
                yield kept

    def _align(
        self, series: list[Series], state: QueryState, index: dict[LabelSet, int]
    ) -> list[int]:
        """Return each series' row in the robust state, adding rows for new series."""
        rows = []
        for s in series:
            key = s.key()
            row = index.get(key)
            if row is None:
                row = index[key] = len(state.keys)
                state.keys.append(key)
            rows.append(row)
        state.robust.resize(len(state.keys))
        return rows

    async def fit(self, now: int) -> CycleStats:
        """Learn every series (and device) from the fit window ending at ``now``."""
        started = time.monotonic()
        q = self.query
        state = QueryState(last_ts=self.state.last_ts, fitted_at=time.time())
        state.history = self.state.history
        for history in state.history.values():
            history.prune(now - int(q.fit_window_s))
        index: dict[LabelSet, int] = {}
        count = 0
        async for page in self._pages(now - int(q.fit_window_s), now):
            count += len(page)
            self._fit_page(page, state, index)
        if state.last_ts is None:
            state.last_ts = now
        self.state = state
        self.save()
        return CycleStats("fit", q.name, count, seconds=time.monotonic() - started)

    def _fit_page(
        self, series: list[Series], state: QueryState, index: dict[LabelSet, int]
    ) -> None:
        q = self.query
        rows = self._align(series, state, index)
        if q.model != DEVICE_MODEL:
            robust = RobustStream()
            expected = robust.run(matrix(series))[1]
            state.robust.center[rows] = robust.center
            state.robust.scale[rows] = robust.scale
            state.robust.count[rows] = robust.count
            for i, s in enumerate(series):
                ts = s.timestamps
                choice = (
                    q.model if q.model != "auto" else validation_choice(ts, s.values, expected[i])
                )
                state.choice[s.key()] = choice
                if choice == "seasonal":
                    state.seasonal[s.key()] = SeasonalBaseline().fit(ts, s.values)
                elif choice not in UNIVARIATE:
                    detector = (
                        EnvelopeDetector() if choice == "envelope" else custom_model(choice)()
                    )
                    tail = slice(-ENVELOPE_WARMUP_ROWS, None)
                    envelope_scores(detector, ts[tail], s.values[tail], _alarm(detector))
                    state.envelope[s.key()] = detector
        for gkey, members in group(series, q.group_by).items() if q.group_by else ():
            frame = matrix(members).T
            history = state.history.get(gkey)
            if history is not None:  # alarming periods and rows before a re-baseline are left out
                ts = members[0].timestamps.astype(np.int64)
                frame = frame[history.learnable(ts, ALARM_GAP_STEPS * q.step_s)]
            if len(members) >= 2 and np.isfinite(frame).all(axis=1).sum() >= MIN_DEVICE_ROWS:
                names = [m.labels.get("__name__", str(i)) for i, m in enumerate(members)]
                state.devices[gkey] = DeviceModel(names).fit(frame)

    async def infer(self, now: int) -> CycleStats:
        """Score every point since the last cycle, forecast, and write the findings.

        One read serves the whole cycle: the new points, the device models' context before
        them and the forecast window all end at ``now``, so the widest of them is read, a page
        at a time, and each use takes its own tail of every page.
        """
        started = time.monotonic()
        if await self._rebaselines(now):
            await self.fit(now)
        self.lasting = []
        q = self.query
        step = q.step_s
        since = self.state.last_ts if self.state.last_ts is not None else now - step
        start = since + step - since % step
        index = {key: i for i, key in enumerate(self.state.keys)}
        count = anomalies = 0
        context = max((m.context for m in self.state.devices.values()), default=0) * step
        starts = [start, start - context] if start <= now else []
        if q.threshold is not None:
            starts.append(now - int(q.forecast_window_s))
        async with self.writer.stream() as out:
            async for page in self._pages(min(starts), now) if starts else _no_pages():
                new = tails(page, start) if start <= now else []
                count += len(new)
                if new:
                    rows = self._align(new, self.state, index)
                    if q.model != DEVICE_MODEL:
                        anomalies += await self._score(new, rows, out)
                    if self.state.devices:
                        anomalies += await self._devices(tails(page, start - context), start, out)
                if q.threshold is not None:
                    await self._forecasts(tails(page, now - int(q.forecast_window_s)), now, out)
        if self.lasting:
            await self._settle(self.lasting, now)
        self.state.last_ts = now
        self.save()
        return CycleStats("infer", q.name, count, out.sent, anomalies, time.monotonic() - started)

    async def _rebaselines(self, now: int) -> bool:
        """Apply the operators' re-baseline requests; return whether any device was named."""
        applied = False
        for device, since, path in take_requests(self.path.parent, self.query.name):
            keys = {*self.state.devices, *self.state.history}
            matched = [k for k in keys if dict(k).get("device") == device]
            if not matched:
                continue  # another shard's device, or one not seen yet
            for gkey in matched:
                self.state.history.setdefault(gkey, DeviceHistory()).rebaseline(since)
            path.unlink(missing_ok=True)
            self.events.warning(
                "re-baseline of %s in %s: its model learns from %d on", device, self.query.name,
                since, extra={"query": self.query.name, "device": device, "since": since,
                              "event": "rebaseline"},
            )  # fmt: skip
            applied = True
        return applied

    def _watch(self, gkey: LabelSet, ts: np.ndarray, row: FloatArray, now: int) -> bool:
        """Record a device's alarming rows; return whether its alarm has lasted ``settle_s``."""
        q = self.query
        gap = ALARM_GAP_STEPS * q.step_s
        history = self.state.history.setdefault(gkey, DeviceHistory())
        history.record(ts.astype(np.int64), np.nan_to_num(row) > 1.0, gap)
        lasting = q.settle_s > 0 and history.alarming_for(now, gap) >= q.settle_s
        return lasting and now >= self.next_settle.get(gkey, 0)

    async def _settle(self, gkeys: list[LabelSet], now: int) -> None:
        """Learn as the new normal the lasting alarms whose recent rows agree with themselves."""
        q = self.query
        start = now - int(q.settle_s)
        async for page in self._pages(start, now):
            for gkey, members in group(page, q.group_by).items():
                model = self.state.devices.get(gkey)
                if gkey not in gkeys or model is None:
                    continue
                by_name = {m.labels.get("__name__", ""): m for m in members}
                if any(name not in by_name for name in model.metrics):
                    continue
                frame = matrix([by_name[name] for name in model.metrics]).T
                frame = frame[np.isfinite(frame).all(axis=1)]
                if not settled(model, frame):
                    self.next_settle[gkey] = now + int(q.settle_s / 4)
                    continue
                self.state.devices[gkey] = DeviceModel(
                    list(model.metrics), model.variance, model.smoothing, model.quantile,
                    model.margin, model.folds, model.clip,
                ).fit(frame)  # fmt: skip
                self.state.history[gkey].rebaseline(start)
                self.events.warning(
                    "operating point of %s changed: its last %.0f s are learnt as normal",
                    dict(gkey).get("device", repr(gkey)), q.settle_s,
                    extra=log_attributes(
                        {**dict(gkey), "query": q.name, "event": "operating_point_changed",
                         "since": start}
                    ),
                )  # fmt: skip

    async def _score(self, page: list[Series], rows: list[int], out: OutputStream) -> int:
        """Score a page of series with their own models, write it, and return its anomalies."""
        state = self.state
        values = matrix(page)
        robust = RobustStream(
            center=state.robust.center[rows],
            scale=state.robust.scale[rows],
            count=state.robust.count[rows],
        )
        score, exp, lo, hi = robust.run(values)
        state.robust.center[rows] = robust.center
        state.robust.scale[rows] = robust.scale
        state.robust.count[rows] = robust.count
        ts = page[0].timestamps
        models = []
        for i, s in enumerate(page):
            model = state.choice.get(s.key(), "robust")
            seasonal = state.seasonal.get(s.key())
            detector = state.envelope.get(s.key())
            if model == "seasonal" and seasonal is not None:
                score[i], exp[i], lo[i], hi[i] = seasonal.score(ts, s.values)
            elif detector is not None:
                score[i] = envelope_scores(detector, ts, s.values, _alarm(detector))
            else:
                model = "robust"
            models.append(model)
        score[~np.isfinite(values)] = np.nan
        block = ScoreBlock([s.key() for s in page], models, self.query.name, ts, score, exp, lo, hi)
        await out.add(block)
        anomalies = 0
        for i, s in enumerate(page):

            def detail(j: int, i: int = i) -> dict[str, object]:
                return {"value": float(values[i, j]), "expected": float(exp[i, j])}

            anomalies += self.episodes.observe(s.key(), s.labels, models[i], ts, score[i], detail)
        return anomalies

    async def _devices(self, page: list[Series], start: int, out: OutputStream) -> int:
        """Score a page's devices with their models from ``start``, write them, count anomalies."""
        q = self.query
        anomalies = 0
        if page:
            ts = page[0].timestamps
            cols = np.nonzero(ts >= start)[0]
            keys: list[LabelSet] = []
            scores: list[FloatArray] = []
            drivers: dict[tuple[int, int], dict[str, float]] = {}
            for gkey, members in group(page, q.group_by).items():
                model = self.state.devices.get(gkey)
                if model is None:
                    continue
                by_name = {m.labels.get("__name__", ""): m for m in members}
                if any(name not in by_name for name in model.metrics):
                    continue
                frame = matrix([by_name[name] for name in model.metrics]).T
                score, explanation = model.score(frame)
                row = np.where(np.isfinite(frame[cols]).all(axis=1), score[cols], np.nan)
                if len(cols) and self._watch(gkey, ts[cols], row, int(ts[-1])):
                    self.lasting.append(gkey)
                for c in np.nonzero(row > 1)[0].tolist():
                    drivers[len(keys), c] = explanation[cols[c]]

                def why(
                    c: int, e: Explanations = explanation, at: np.ndarray = cols
                ) -> dict[str, object]:
                    return {"drivers": e[int(at[c])]}

                anomalies += self.episodes.observe(
                    gkey, dict(gkey), DEVICE_MODEL, ts[cols], row, why
                )
                keys.append(gkey)
                scores.append(row)
            if keys:
                block = ScoreBlock(
                    keys, [DEVICE_MODEL] * len(keys), q.name, ts[cols], np.vstack(scores),
                    drivers=drivers,
                )  # fmt: skip
                await out.add(block)
        return anomalies

    async def _forecasts(self, page: list[Series], now: int, out: OutputStream) -> None:
        """Forecast when each series of a page crosses the threshold; write the findings."""
        q = self.query
        assert q.threshold is not None
        threshold = Threshold(q.threshold.value, q.threshold.direction)
        horizons = RiskHorizons(q.risk_high_s, q.risk_medium_s)
        if page:
            found = []
            grids: dict[tuple[int, int], list[Series]] = {}
            for s in page:  # a page's series share one grid, but for those that start later
                grids.setdefault((s.start, len(s.values)), []).append(s)
            results: list[tuple[Series, Forecast | None]] = []
            for same in grids.values():
                ts = same[0].timestamps.astype(np.float64)
                results += zip(same, forecasts(ts, matrix(same), threshold, horizons), strict=True)
            for s, result in results:
                if result is None:
                    continue
                ttt = result.time_to_threshold_s
                found.append(
                    Finding(
                        s.labels, now, "trend", q.name,
                        time_to_threshold_s=ttt if np.isfinite(ttt) else None,
                        risk=result.risk, risk_confidence=result.confidence,
                    )
                )  # fmt: skip
                if result.risk == "high":
                    self.events.warning(
                        "predicted fault: %s crosses %s in %.0f s",
                        q.name, threshold.value, ttt,
                        extra=log_attributes(
                            {**s.labels, "query": q.name, "time_to_threshold_s": ttt,
                             "confidence": result.confidence, "level": result.level}
                        ),
                    )  # fmt: skip
            await out.add_findings(found)
