"""Poll deadlines kept by one timer for every poll, instead of a timer handle per poll.

``asyncio.timeout`` pushes a timer into the event loop and cancels it again for every poll:
thousands a second in a fleet. Here a poll's deadline is an entry in a dict per timeout length
(so insertion order is expiry order), and one timer, re-armed at most every ``RESOLUTION_S``
while polls run, cancels the polls whose deadline has passed. A poll may so run up to
``RESOLUTION_S`` past its deadline. The cancellation is the one ``asyncio.timeout`` makes: the
watched block raises ``TimeoutError``, and a cancellation from elsewhere (the collector
stopping) still propagates as ``CancelledError``.
"""

from __future__ import annotations

import asyncio
from types import TracebackType

RESOLUTION_S = 0.05


class Deadline:
    """One watched block: ``with deadlines.watch(s):`` raises TimeoutError past ``s`` seconds."""

    __slots__ = ("cancelling", "due", "expired", "group", "owner", "task")

    def __init__(self, owner: Deadlines, timeout_s: float) -> None:
        self.owner = owner
        self.due = timeout_s
        group = owner.groups.get(timeout_s)
        if group is None:
            group = owner.groups[timeout_s] = {}
        self.group = group
        self.expired = False

    def __enter__(self) -> Deadline:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("a deadline is watched inside a task")
        self.task = task
        self.cancelling = task.cancelling()
        owner = self.owner
        loop = asyncio.get_running_loop()
        if owner.loop is not loop:  # a timer armed in another loop never fires in this one
            owner.loop, owner.timer = loop, None
        self.due += loop.time()
        self.group[self] = self.due
        if owner.timer is None:
            owner.arm(self.due)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        if not self.expired:
            self.group.pop(self, None)
            return
        if self.task.uncancel() <= self.cancelling and kind is asyncio.CancelledError:
            raise TimeoutError from error


class Deadlines:
    """The deadlines of the polls running in one event loop, and the one timer that keeps them."""

    def __init__(self) -> None:
        self.groups: dict[float, dict[Deadline, float]] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.timer: asyncio.TimerHandle | None = None

    def watch(self, timeout_s: float) -> Deadline:
        """Return a context manager that cancels its block ``timeout_s`` seconds after entry."""
        return Deadline(self, timeout_s)

    def arm(self, due: float) -> None:
        """Run the next check at ``due``, or ``RESOLUTION_S`` from now if that is later."""
        assert self.loop is not None
        self.timer = self.loop.call_at(max(due, self.loop.time() + RESOLUTION_S), self.check)

    def check(self) -> None:
        """Cancel every block past its deadline; re-arm while any block is watched."""
        assert self.loop is not None
        self.timer = None
        now = self.loop.time()
        earliest: float | None = None
        for group in self.groups.values():
            while group:
                deadline, due = next(iter(group.items()))
                if due > now:
                    earliest = due if earliest is None else min(earliest, due)
                    break
                del group[deadline]
                deadline.expired = True
                deadline.task.cancel()
        if earliest is not None:
            self.arm(earliest)
