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
    Sample,
    Severity,
)
from sentio.connectors.modbus.errors import ModbusTimeoutError
from sentio.connectors.mqtt.session import MqttConnectionError
from sentio.connectors.opcua.errors import OpcuaSecurityError

from sentio.config import ConnectorInstanceConfig, SentioConfig
from sentio.errors import SentioError
from sentio.telemetry import Telemetry

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
    count, ratio = collector.queue
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
