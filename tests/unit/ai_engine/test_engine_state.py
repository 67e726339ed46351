"""The engine's state files (no pickle, one per shard, corrupt ones refitted) and its survival."""

from __future__ import annotations

import io
import logging
import pickle
import stat
import zipfile
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricsData
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from sentio.ai_engine.engine import QueryEngine, in_shard, shard_key
from sentio.ai_engine.reader import Series
from sentio.ai_engine.scheduler import Scheduler
from sentio.ai_engine.state import decode, encode

from sentio.config import AIConfig, AIQueryConfig, SentioConfig
from sentio.telemetry import Telemetry
from tests.unit.ai_engine.test_engine_envelope import T0, FakeWriter

STEP = 60
ROWS = 600


class DeviceReader:
    """Three pumps with three metrics each; the first pump's valve sticks after ``fault``."""

    def __init__(self, fault: int = 10**9) -> None:
        rng = np.random.default_rng(5)
        load = 50 + 10 * np.sin(np.arange(ROWS) / 40)
        self.values: dict[tuple[str, str], np.ndarray] = {}
        for d in range(3):
            device = f"p{d}"
            flow = load * 0.7 + rng.normal(0, 0.3, ROWS)
            valve = load + rng.normal(0, 0.5, ROWS)
            if d == 0 and fault < ROWS:
                valve[fault:] = valve[fault]
            pressure = np.round((6 - 0.03 * load + rng.normal(0, 0.05, ROWS)) / 0.3) * 0.3
            for name, values in (("flow", flow), ("valve", valve), ("pressure", pressure)):
                self.values[(device, name)] = values
        self.calls = 0

    async def read(self, query: str, start: int, end: int, step: int) -> list[Series]:
        self.calls += 1
        lo = max(0, (start - T0 + step - 1) // step)
        hi = min(ROWS - 1, (end - T0) // step)
        if hi < lo:
            return []
        return [
            Series({"__name__": name, "device": device}, T0 + lo * step, step, v[lo : hi + 1])
            for (device, name), v in self.values.items()
        ]

    async def pages(
        self,
        query: str,
        start: int,
        end: int,
        step: int,
        group_by: Sequence[str] = (),
        keep: object = None,
    ) -> AsyncIterator[list[Series]]:
        yield await self.read(query, start, end, step)


def query(**extra: object) -> AIQueryConfig:
    return AIQueryConfig(
        name="pumps", promql="{device=~'p.'}", group_by=["device"], fit_window_s=ROWS * STEP,
        **extra,  # type: ignore[arg-type]
    )  # fmt: skip


def files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()}


def engine(tmp_path: Path, reader: DeviceReader, shard: tuple[int, int] = (0, 1)) -> QueryEngine:
    return QueryEngine(query(), reader, FakeWriter(), tmp_path, shard=shard)  # type: ignore[arg-type]


async def test_group_by_uses_the_multivariate_model_and_it_sees_a_stuck_valve(
    tmp_path: Path,
) -> None:
    reader = DeviceReader(fault=450)
    eng = engine(tmp_path, reader)
    await eng.fit(T0 + 400 * STEP)
    assert len(eng.state.devices) == 3
    await eng.infer(T0 + (ROWS - 1) * STEP)
    writer = eng.writer
    assert isinstance(writer, FakeWriter)
    device = [f for f in writer.findings if f.model == "multivariate"]
    faulty = {f.timestamp_s: f.score for f in device if f.labels["device"] == "p0"}
    healthy = [f.score for f in device if f.labels["device"] != "p0"]
    assert max(healthy) < 1
    assert max(s for t, s in faulty.items() if t < T0 + 450 * STEP) < 1
    assert min(s for t, s in faulty.items() if t >= T0 + 460 * STEP) > 1


async def test_state_is_an_npz_archive_that_restores_the_device_models(tmp_path: Path) -> None:
    reader = DeviceReader()
    (tmp_path / "shared").mkdir(mode=0o755)
    tmp_path = tmp_path / "shared" / "state"
    eng = engine(tmp_path, reader)
    await eng.fit(T0 + 400 * STEP)
    assert zipfile.is_zipfile(eng.path)
    assert stat.S_IMODE(eng.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(eng.path.parent.stat().st_mode) == 0o700
    eng.path.parent.chmod(0o755)
    eng.save()
    assert stat.S_IMODE(eng.path.parent.stat().st_mode) == 0o700
    restored = engine(tmp_path, reader)
    assert restored.load()
    assert restored.state.keys == eng.state.keys
    assert restored.state.choice == eng.state.choice
    assert restored.state.fitted_at == eng.state.fitted_at
    frame = np.column_stack([reader.values[("p1", m)] for m in ("flow", "valve", "pressure")])
    for gkey, model in eng.state.devices.items():
        copy = restored.state.devices[gkey]
        assert list(copy.metrics) == list(model.metrics)
        np.testing.assert_array_equal(copy.score(frame)[0], model.score(frame)[0])
    np.testing.assert_array_equal(restored.state.robust.center, eng.state.robust.center)


async def test_shards_keep_their_own_state_files(tmp_path: Path) -> None:
    reader = DeviceReader()
    first, second = engine(tmp_path, reader, (0, 2)), engine(tmp_path, reader, (1, 2))
    await first.fit(T0 + 400 * STEP)
    await second.fit(T0 + 400 * STEP)
    assert first.path != second.path
    assert files(tmp_path) == {
        "pumps.shard-0-of-2.npz",
        "pumps.shard-1-of-2.npz",
    }
    again = engine(tmp_path, reader, (1, 2))
    assert again.load()
    assert again.state.keys == second.state.keys
    group_by = again.query.group_by
    assert all(in_shard(shard_key(dict(k), group_by), (1, 2)) for k in again.state.keys)


async def test_a_pickle_in_place_of_the_state_is_not_run_and_the_query_refits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "ran"
    eng = engine(tmp_path, DeviceReader())

    class Payload:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (Path.touch, (str(marker),))  # type: ignore[return-value]

    eng.path.write_bytes(pickle.dumps(Payload()))
    with caplog.at_level(logging.ERROR, logger="sentio.ai"):
        assert not eng.load()
    assert not marker.exists()
    assert "unusable" in caplog.text and str(eng.path) in caplog.text
    await eng.fit(T0 + 400 * STEP)
    assert engine(tmp_path, DeviceReader()).load()


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[: len(data) // 2],  # torn write
        lambda data: b"\x00" * len(data),
        lambda data: data.replace(b'"robust"', b'"rubust"'),
    ],
)
async def test_a_corrupt_state_is_reported_and_the_query_refits(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    eng = engine(tmp_path, DeviceReader())
    await eng.fit(T0 + 400 * STEP)
    eng.path.write_bytes(damage(eng.path.read_bytes()))  # type: ignore[operator]
    fresh = engine(tmp_path, DeviceReader())
    with caplog.at_level(logging.ERROR, logger="sentio.ai"):
        assert not fresh.load()
    assert "unusable" in caplog.text
    assert fresh.state.fitted_at is None
    await fresh.fit(T0 + 400 * STEP)
    assert engine(tmp_path, DeviceReader()).load()


async def test_the_archive_holds_only_plain_arrays(tmp_path: Path) -> None:
    eng = engine(tmp_path, DeviceReader())
    await eng.fit(T0 + 400 * STEP)
    data = encode(eng.state)
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        assert all(archive[name].dtype != object for name in archive.files)
    restored = decode(data)
    assert restored is not None and restored.keys == eng.state.keys


def _points(data: MetricsData, name: str) -> list[Any]:
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


class FailingOnce(DeviceReader):
    async def read(self, query: str, start: int, end: int, step: int) -> list[Series]:
        if self.calls == 0:
            self.calls += 1
            raise RuntimeError("a bug in a model")
        return await super().read(query, start, end, step)


async def test_the_scheduler_counts_any_exception_and_runs_the_next_cycle(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = SentioConfig(
        ai=AIConfig(state_dir=tmp_path, query_url="http://127.0.0.1:9", queries=[query()])
    )
    metrics = InMemoryMetricReader()
    telemetry = Telemetry(
        Resource.create({}), MeterProvider(metric_readers=[metrics]), TracerProvider(),
        LoggerProvider(),
    )  # fmt: skip
    async with aiohttp.ClientSession() as session:
        scheduler = Scheduler(config, telemetry, session)
        reader = FailingOnce()
        scheduler.engines[0].reader = reader  # type: ignore[assignment]
        scheduler.engines[0].writer = FakeWriter()  # type: ignore[assignment]
        with caplog.at_level(logging.ERROR, logger="sentio.ai"):
            first = await scheduler.run_due(T0 + 400 * STEP)
        assert [s.phase for s in first] == ["infer"]  # the fit failed, the infer still ran
        assert "a bug in a model" in caplog.text and "Traceback" in caplog.text
        second = await scheduler.run_due(T0 + 400 * STEP + 3600)
        assert [s.phase for s in second] == ["fit", "infer"]
        assert len(scheduler.engines[0].state.devices) == 3
    data = metrics.get_metrics_data()
    assert data is not None
    errors = _points(data, "sentio.ai.cycle.errors")
    assert sum(p.value for p in errors) == 1
    assert dict(errors[0].attributes or {}) == {"query": "pumps", "phase": "fit"}
    durations = _points(data, "sentio.ai.cycle.duration")
    # in seconds: the SDK's default boundaries (0, 5, 10 ...) would lump every cycle together
    assert durations and all(p.explicit_bounds[:3] == (0.1, 0.25, 0.5) for p in durations)
