"""A polled connector of two meters: one answers every poll, the other raises on every poll."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

from pydantic import BaseModel
from sentio.connectors.contract import Connector, DeviceSchedule, Reading, ReadingBatch, Sample

METRICS = (("voltage", "V"), ("current", "A"))


class Empty(BaseModel):
    pass


class Meters(Connector[Empty]):
    """``good`` answers a batch and a state; ``bad`` raises; each poll logs a warning."""

    config_model = Empty

    def __init__(self, good: str = "good", bad: str = "bad", interval_s: float = 0.01) -> None:
        super().__init__(Empty())
        self.good, self.bad, self.interval_s = good, bad, interval_s
        self.polls = {good: 0, bad: 0}
        self.log = logging.getLogger("tests.meters")

    async def connect(self) -> None:
        await asyncio.sleep(0)

    async def read(self) -> AsyncIterator[Sample]:
        raise AssertionError("polled through poll()")
        yield  # pragma: no cover

    async def close(self) -> None:
        pass

    def devices(self) -> Sequence[DeviceSchedule]:
        return [
            DeviceSchedule(self.good, self.interval_s),
            DeviceSchedule(self.bad, self.interval_s),
        ]

    async def poll(self, device: str) -> AsyncIterator[Sample]:
        self.polls[device] += 1
        self.log.warning("polling %s", device)
        await asyncio.sleep(0)
        if device == self.bad:
            raise OSError(f"{device}: no route to host")
        yield ReadingBatch(device, METRICS, [230.5, 1.25])
        yield Reading(device, "state", "on")
