from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from pydantic import BaseModel
from sentio.collectors.runtime import Collector, Instance
from sentio.connectors.contract import (
    Connector,
    ConnectorConnectionError,
    ConnectorError,
    ConnectorProtocolError,
    ConnectorTimeoutError,
    Event,
    Quality,
    Reading,
    ReadingBatch,
    Sample,
    Severity,
)
from sentio.connectors.modbus.errors import ModbusTimeoutError
from sentio.connectors.mqtt.session import MqttConnectionError
from sentio.connectors.opcua.errors import OpcuaSecurityError

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.errors import SentioError
from sentio.telemetry import Telemetry
from tests.unit.collectors.queued import queued

CONTRACT = Path(__file__).resolve().parents[2] / "connectors" / "contract.py"


class CounterConfig(BaseModel):
    device: str = "dev-1"
    fail: bool = False


class Counter(Connector[CounterConfig]):
    """A plugin written against the contract alone."""

    config_model = CounterConfig

    async def connect(self) -> None:
        pass

    async def read(self) -> AsyncIterator[Sample]:
        if self.config.fail:
            raise ConnectorTimeoutError("dev-1 did not answer in 2 s")
        yield Reading(self.config.device, "count", 2.0, unit="1", attributes={"room": "attic"})
        yield Reading(self.config.device, "ratio", 0.5, quality=Quality.UNCERTAIN)
        yield Event(self.config.device, "door opened", Severity.WARN)

    async def close(self) -> None:
        pass


def _collector(tmp_path: Path, connector: Counter) -> tuple[Collector, Instance]:
    config = SentioConfig.model_validate({"stack": {"data_dir": str(tmp_path)}})
    telemetry = Telemetry(Resource.create({}), MeterProvider(), TracerProvider(), LoggerProvider())
    collector = Collector(config, telemetry)
    inst = Instance(ConnectorInstanceConfig(name="counters", type="counter"), connector)
    collector.instances.append(inst)
    return collector, inst


async def test_the_runtime_runs_a_connector_written_against_the_contract_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector, inst = _collector(tmp_path, Counter(CounterConfig()))
    assert await collector._poll_once(inst)
    count, ratio = sorted(queued(collector), key=lambda q: q.name)
    assert (count.name, count.value, count.unit) == ("count", 2.0, "1")
    assert count.attributes == {
        "room": "attic", "device": "dev-1", "connector": "counter", "instance": "counters",
    }  # fmt: skip
    assert ratio.attributes["quality"] == "uncertain"
    assert inst.devices["dev-1"].up
    assert "door opened" in caplog.text


async def test_a_connector_error_marks_the_entry_down_without_a_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector, inst = _collector(tmp_path, Counter(CounterConfig(fail=True)))
    assert not await collector._poll_once(inst)
    assert not inst.devices["counters"].up
    assert "device counters is down: dev-1 did not answer in 2 s" in caplog.text
    assert "Traceback" not in caplog.text and "unexpected" not in caplog.text


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (ModbusTimeoutError, ConnectorTimeoutError),
        (MqttConnectionError, ConnectorConnectionError),
        (OpcuaSecurityError, ConnectorConnectionError),
    ],
)
def test_built_in_errors_are_sentio_and_contract_errors(
    error: type[Exception], kind: type[ConnectorError]
) -> None:
    assert issubclass(error, SentioError) and issubclass(error, kind)
    assert not issubclass(ConnectorProtocolError, SentioError), "the contract stands alone"


def test_contract_imports_nothing_from_the_runtime_or_otel() -> None:
    tree = ast.parse(CONTRACT.read_text())
    modules = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in modules if m and m.split(".")[0] in {"sentio", "opentelemetry"}}


LAYOUT = (("voltage", "V"), ("label", ""), ("on", "{bool}"))


class Batches(Connector[CounterConfig]):
    """A plugin yielding a batch per poll: a number, a string (no sample) and a boolean."""

    config_model = CounterConfig

    def __init__(self, config: CounterConfig, values: list[object]) -> None:
        super().__init__(config)
        self.values = values

    async def connect(self) -> None:
        pass

    async def read(self) -> AsyncIterator[Sample]:
        yield ReadingBatch(self.config.device, LAYOUT, self.values, 5, {"room": "attic"})  # type: ignore[arg-type]

    async def close(self) -> None:
        pass


def test_a_batch_means_what_its_readings_mean() -> None:
    batch = ReadingBatch("d", LAYOUT, [230.0, "x", True], 7, {"k": 1})
    assert batch.readings() == [
        Reading("d", "voltage", 230.0, "V", 7, {"k": 1}),
        Reading("d", "label", "x", "", 7, {"k": 1}),
        Reading("d", "on", True, "{bool}", 7, {"k": 1}),
    ]
    with pytest.raises(ConnectorProtocolError, match="d: a batch of 3 metrics carries 2 values"):
        ReadingBatch("d", LAYOUT, [1.0, 2.0]).readings()


async def test_the_runtime_queues_a_batch_and_skips_its_strings(tmp_path: Path) -> None:
    for values in ([230.0, 7.0, True], [230.0, "label", True]):
        collector, inst = _collector(tmp_path, Batches(CounterConfig(), values))  # type: ignore[arg-type]
        assert await collector._poll_once(inst)
        got = sorted((q.name, q.unit, q.value, q.timestamp_ns) for q in queued(collector))
        want = [("on", "{bool}", 1.0, 5), ("voltage", "V", 230.0, 5)]
        if not isinstance(values[1], str):
            want.insert(0, ("label", "", 7.0, 5))
        assert got == want
        assert collector.accepted == len(want) == collector.accepted_by_device["dev-1"]
        assert queued(collector)[0].attributes["room"] == "attic"


async def test_a_malformed_batch_marks_its_device_down_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    collector, inst = _collector(tmp_path, Batches(CounterConfig(), [1.0]))
    assert not await collector._poll_once(inst)
    assert not inst.devices["counters"].up
    assert "a batch of 3 metrics carries 1 values" in caplog.text
    assert collector.accepted == 0


async def test_a_batch_under_on_change_reporting_sends_only_changes(tmp_path: Path) -> None:
    connector = Batches(CounterConfig(), [230.0, 1.0, True])
    collector, inst = _collector(tmp_path, connector)
    inst.config = ConnectorInstanceConfig(
        name="counters", type="counter", report={"mode": "on_change", "heartbeat_s": 3600}
    )
    assert await collector._poll_once(inst)
    connector.values = [231.0, 1.0, True]
    assert await collector._poll_once(inst)
    assert sorted((q.name, q.value) for q in queued(collector)) == [
        ("label", 1.0), ("on", 1.0), ("voltage", 230.0), ("voltage", 231.0),
    ]  # fmt: skip
