"""An AI cycle stops at the next page boundary when the engine stops, keeping the saved state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from sentio.ai_engine.engine import QueryEngine
from sentio.ai_engine.errors import CycleStopped
from sentio.ai_engine.reader import Series

from tests.unit.ai_engine.test_engine_envelope import T0, FakeWriter
from tests.unit.ai_engine.test_engine_state import ROWS, STEP, DeviceReader, query


class EndlessPages(DeviceReader):
    """Pages that never run out; the stop is set while the first one is scored."""

    def __init__(self, stop: asyncio.Event) -> None:
        super().__init__()
        self.stop = stop
        self.served = 0

    async def pages(
        self,
        query: str,
        start: int,
        end: int,
        step: int,
        group_by: Sequence[str] = (),
        keep: object = None,
    ) -> AsyncIterator[list[Series]]:
        while True:
            self.served += 1
            if self.served == 2:
                self.stop.set()  # a SIGTERM arriving while a page is worked on
            yield await self.read(query, start, end, step)


async def test_a_stopped_cycle_ends_at_a_page_boundary_and_keeps_the_saved_state(
    tmp_path: Path,
) -> None:
    stop = asyncio.Event()
    eng = QueryEngine(query(), DeviceReader(), FakeWriter(), tmp_path)  # type: ignore[arg-type]
    await eng.fit(T0 + 400 * STEP)
    saved = eng.path.read_bytes()
    reader = EndlessPages(stop)
    eng.reader = reader  # type: ignore[assignment]
    eng.stopping = stop
    with pytest.raises(CycleStopped, match="stopped between pages"):
        await asyncio.wait_for(eng.infer(T0 + (ROWS - 1) * STEP), 10)
    assert reader.served == 2, "no page is asked for after the one that came with the stop"
    assert eng.path.read_bytes() == saved, "a partial cycle is not saved over the last whole one"
