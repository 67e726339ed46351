"""Caps on the devices and metric names of an entry: refused once, counted, bounded memory."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel
from sentio.collectors import limits as limits_module
from sentio.collectors.instance import Instance
from sentio.collectors.limits import NameLimits
from sentio.collectors.runtime import Collector
from sentio.connectors.contract import Connector, Reading, ReadingBatch, Sample
from sentio.connectors.mqtt import MqttConnector

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.telemetry import Telemetry


class Empty(BaseModel):
    pass


class Fake(Connector[Empty]):
    config_model = Empty

    def __init__(self) -> None:
        super().__init__(Empty())

    async def connect(self) -> None:
        pass

    async def read(self) -> Sample:  # type: ignore[override]
        raise NotImplementedError

    async def close(self) -> None:
        pass


def test_a_new_device_past_the_cap_is_refused_once_and_its_readings_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limits = NameLimits("plant", 2, None)
    assert limits.reading("a", "t") and limits.reading("b", "t")
    for _ in range(5):
        assert not limits.reading("c", "t")
    assert limits.reading("a", "t"), "a tracked device keeps flowing"
    assert limits.refused == 1 and limits.dropped == 5
    assert [r.getMessage() for r in caplog.records] == [
        "plant: refused new device 'c': the entry has max_devices 2; its readings are dropped "
        "and counted"
    ]
    limits.forget("a")
    assert limits.reading("c", "t"), "a forgotten device frees its place"


def test_a_new_metric_past_the_cap_is_refused_per_device() -> None:
    limits = NameLimits("plant", None, 2)
    assert limits.reading("a", "x") and limits.reading("a", "y")
    assert not limits.reading("a", "z") and not limits.reading("a", "z")
    assert limits.reading("b", "z"), "the cap is per device"
    assert limits.refused == 1 and limits.dropped == 2 and limits.tracked_metrics == 3


def test_refused_names_are_remembered_in_bounded_memory_and_warned_in_bounded_bursts(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(limits_module, "REFUSED_REMEMBERED", 10)
    limits = NameLimits("plant", 1, None)
    limits.reading("known", "t")
    for i in range(limits_module.WARN_BURST + 50):
        limits.reading(f"flood-{i}", "t")
    assert len(limits._refused) == 10
    assert limits.refused == limits_module.WARN_BURST + 50
    assert len(caplog.records) == limits_module.WARN_BURST
    limits._window -= limits_module.WARN_WINDOW_S  # a minute later
    limits.reading("late", "t")
    assert caplog.records[-2].getMessage() == (
        "plant: 50 more names refused past the caps, not logged one by one"
    )
    assert "refused new device 'late'" in caplog.records[-1].getMessage()


def test_a_batch_keeps_its_tracked_metrics_and_drops_the_refused(tmp_path: Path) -> None:
    config = SentioConfig.model_validate(
        {"stack": {"data_dir": str(tmp_path)}, "collector": {"spool_fsync": False}}
    )
    telemetry = Telemetry(Resource.create({}), MeterProvider(), TracerProvider(), LoggerProvider())
    collector = Collector(config, telemetry)
    inst = Instance(
        ConnectorInstanceConfig(name="meters", type="fake", max_metrics_per_device=2), Fake()
    )
    layout = (("a", "V"), ("b", "V"), ("c", "V"))
    seen: set[str] = set()
    count = collector._sample(inst, ReadingBatch("m1", layout, [1.0, 2.0, 3.0]), seen, {})
    assert count == 2 and seen == {"m1"}
    assert inst.limits.dropped == 1 and inst.limits.refused == 1
    small = (("a", "V"), ("b", "V"))
    assert collector._sample(inst, ReadingBatch("m1", small, [1.0, 2.0]), seen, {}) == 2
    assert inst.limits.dropped == 1
    assert collector._sample(inst, Reading("m1", "c", 1.0), seen, {}) == 0
    collector._spool_thread.shutdown()


def test_caps_default_on_for_open_names_only() -> None:
    fake = Instance(ConnectorInstanceConfig(name="x", type="fake"), Fake())
    assert not fake.limits.active
    mqtt = MqttConnector.config_model.model_validate(
        {"broker": {"host": "localhost"}, "subscriptions": [{"topic": "s/{device}/{metric}"}]}
    )
    inst = Instance(ConnectorInstanceConfig(name="y", type="mqtt"), MqttConnector(mqtt))
    assert (inst.limits.max_devices, inst.limits.max_metrics) == (1000, 500)
