"""The shared poll deadlines: one timer for every watched block, asyncio.timeout's semantics."""

from __future__ import annotations

import asyncio

import pytest
from sentio.collectors.deadlines import RESOLUTION_S, Deadlines


async def _watched(deadlines: Deadlines, timeout_s: float, work_s: float) -> str:
    with deadlines.watch(timeout_s):
        await asyncio.sleep(work_s)
    return "done"


async def test_a_block_past_its_deadline_raises_timeout_error_near_the_deadline() -> None:
    deadlines = Deadlines()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await _watched(deadlines, 0.2, 30)
    took = loop.time() - started
    assert 0.2 <= took < 0.2 + RESOLUTION_S + 0.5
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0, "the cancel it made is taken back"
    await asyncio.sleep(0)  # no cancellation left pending for the task's next await


async def test_only_the_blocks_past_their_deadlines_time_out() -> None:
    deadlines = Deadlines()
    quick = [_watched(deadlines, 1.0, 0.01 * i) for i in range(50)]
    slow = [_watched(deadlines, 0.1, 5) for _ in range(5)]
    other = [_watched(deadlines, 0.3, 0.05) for _ in range(5)]
    results = await asyncio.gather(*quick, *slow, *other, return_exceptions=True)
    assert results[:50] == ["done"] * 50
    assert all(isinstance(r, TimeoutError) for r in results[50:55])
    assert results[55:] == ["done"] * 5
    assert not any(deadlines.groups.values()), "every block left its group"


async def test_a_block_that_finishes_in_time_is_never_cancelled_later() -> None:
    deadlines = Deadlines()
    assert await _watched(deadlines, 0.1, 0) == "done"
    await asyncio.sleep(0.1 + 3 * RESOLUTION_S)  # past the deadline it had: still running
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0


async def test_a_cancel_from_elsewhere_propagates_even_past_the_deadline() -> None:
    deadlines = Deadlines()
    stopped = asyncio.Event()

    async def body() -> None:
        with deadlines.watch(0.1):
            try:
                await asyncio.sleep(30)
            finally:
                stopped.set()

    task = asyncio.create_task(body())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set()

    deadlines = Deadlines()  # its timer not yet armed with the original check
    check = deadlines.check

    def check_and_stop() -> None:  # the collector stops in the tick the deadline passes
        check()
        if expired.cancelling():
            expired.cancel()

    deadlines.check = check_and_stop  # type: ignore[method-assign]
    expired = asyncio.create_task(_watched(deadlines, 0.05, 30))
    with pytest.raises(asyncio.CancelledError):
        await expired
