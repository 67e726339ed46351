"""State archives keep every model's arrays packed, and states written before packing load."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
from sentio.ai_engine.models.multivariate import DeviceModel
from sentio.ai_engine.models.robust import RobustStream
from sentio.ai_engine.models.seasonal import SeasonalBaseline
from sentio.ai_engine.state import QueryState, decode, encode


def state() -> QueryState:
    rng = np.random.default_rng(0)
    keys = [(("__name__", f"m{i % 3}"), ("device", f"d{i // 3}")) for i in range(6)]
    out = QueryState(
        keys=keys,
        robust=RobustStream(center=rng.normal(size=6), scale=np.ones(6), count=np.arange(6.0)),
        last_ts=1_700_000_000,
    )
    for i, key in enumerate(keys[:4]):
        buckets = 672 if i == 1 else 96
        out.seasonal[key] = SeasonalBaseline(
            weekly=i == 1, median=rng.normal(size=buckets), sigma=rng.uniform(1, 2, buckets)
        )
        out.choice[key] = "seasonal"
    for d in range(2):
        frame = rng.normal(size=(300, 3))
        out.devices[(("device", f"d{d}"),)] = DeviceModel(["m0", "m1", "m2"]).fit(frame)
    return out


def assert_same(got: QueryState, want: QueryState) -> None:
    assert got.keys == want.keys and got.choice == want.choice and got.last_ts == want.last_ts
    for key, model in want.seasonal.items():
        np.testing.assert_array_equal(got.seasonal[key].median, model.median)
        np.testing.assert_array_equal(got.seasonal[key].sigma, model.sigma)
        assert got.seasonal[key].weekly == model.weekly
    assert list(got.devices) == list(want.devices)
    for gkey, device in want.devices.items():
        held, kept = got.devices[gkey].to_arrays(), device.to_arrays()
        assert held.keys() == kept.keys()
        for name, values in kept.items():
            np.testing.assert_array_equal(held[name], values)


def test_models_round_trip_in_a_few_archive_members() -> None:
    want = state()
    data = encode(want)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert len(archive.namelist()) < 20  # not one member per model array
    assert_same(decode(data), want)  # type: ignore[arg-type]


def test_a_state_of_one_member_per_array_still_loads() -> None:
    want = state()
    with np.load(io.BytesIO(encode(want)), allow_pickle=False) as archive:
        meta = json.loads(archive["meta"].tobytes().decode())
    arrays = {f"robust.{n}": getattr(want.robust, n) for n in ("center", "scale", "count")}
    for i, model in enumerate(want.seasonal.values()):
        arrays[f"seasonal.{i}.median"], arrays[f"seasonal.{i}.sigma"] = model.median, model.sigma
        del meta["seasonal"][i]["size"]
    for i, device in enumerate(want.devices.values()):
        for name, values in device.to_arrays().items():
            arrays[f"device.{i}.{name}"] = values
        del meta["devices"][i]["shapes"]
    meta["version"] = 3
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)  # type: ignore[arg-type]
    assert_same(decode(buffer.getvalue()), want)  # type: ignore[arg-type]
