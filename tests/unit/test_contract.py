from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from pathlib import Path

from pydantic import BaseModel
from sentio.connectors.contract import Connector, Event, Quality, Reading, Sample, Severity

CONTRACT = Path(__file__).resolve().parents[2] / "connectors" / "contract.py"


class CounterConfig(BaseModel):
    device: str = "dev-1"
    count: int = 3


class Counter(Connector[CounterConfig]):
    config_model = CounterConfig

    async def connect(self) -> None:
        self.open = True

    async def read(self) -> AsyncIterator[Sample]:
        for i in range(self.config.count):
            yield Reading(self.config.device, "count", float(i), unit="1")
        yield Event(self.config.device, "done", Severity.WARN)

    async def close(self) -> None:
        self.open = False


async def test_a_polling_connector_fits_the_contract() -> None:
    conn = Counter(CounterConfig(count=2))
    await conn.connect()
    samples = [s async for s in conn.read()]
    await conn.close()
    assert [s.value for s in samples if isinstance(s, Reading)] == [0.0, 1.0]
    assert samples[0].quality is Quality.GOOD and samples[0].timestamp_ns > 0
    assert isinstance(samples[-1], Event) and samples[-1].severity == 13
    assert conn.open is False


def test_contract_imports_nothing_from_the_runtime_or_otel() -> None:
    tree = ast.parse(CONTRACT.read_text())
    modules = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert not {m for m in modules if m and m.split(".")[0] in {"sentio", "opentelemetry"}}
