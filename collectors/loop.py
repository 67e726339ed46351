"""The event loop `sentio run` polls on: uvloop where it is installed, else Python's own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Literal, TypeVar

from sentio.errors import ConfigError

T = TypeVar("T")
Choice = Literal["auto", "uvloop", "asyncio"]


def loop_factory(choice: Choice) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """Return the factory of the event loop ``choice`` names; None for Python's own."""
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "auto":
            return None
        raise ConfigError(
            "collector.event_loop is uvloop, but uvloop is not installed "
            "(pip install uvloop; it does not run on Windows), or set it to auto or asyncio"
        ) from None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], choice: Choice) -> T:
    """Run ``main`` to its end on the event loop ``choice`` names."""
    with asyncio.Runner(loop_factory=loop_factory(choice)) as runner:
        return runner.run(main)
