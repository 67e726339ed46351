"""Make sure the stack runs for a piece of work, and stop it after if this started it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sentio.config import SentioConfig
from sentio.stack.backends import backends
from sentio.stack.install import install
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions

Progress = Callable[[str], None]


@contextmanager
def stack_running(config: SentioConfig, progress: Progress) -> Iterator[bool]:
    """Install and start the backends unless they run; yield whether this started them."""
    every = backends(load_versions())
    install(every.values(), config.stack.bin_dir, progress)
    stack = Stack(config.stack, every, config.stack.bin_dir)
    started = not stack.running()
    if started:
        asyncio.run(stack.up(progress))
    try:
        yield started
    finally:
        if started:
            asyncio.run(stack.down(progress=progress))
