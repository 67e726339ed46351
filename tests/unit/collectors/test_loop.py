"""The event loop `sentio run` polls on: uvloop by default where installed, else asyncio's."""

from __future__ import annotations

import asyncio
import sys

import pytest
from sentio.collectors.loop import loop_factory, run

from sentio.errors import ConfigError


async def _loop_type() -> str:
    return type(asyncio.get_running_loop()).__module__


@pytest.mark.skipif(sys.platform == "win32", reason="uvloop is not installed on Windows")
def test_auto_runs_on_uvloop_where_it_is_installed() -> None:
    assert run(_loop_type(), "auto").startswith("uvloop")
    assert run(_loop_type(), "uvloop").startswith("uvloop")


def test_asyncio_runs_on_pythons_own_loop() -> None:
    assert loop_factory("asyncio") is None
    assert run(_loop_type(), "asyncio").startswith("asyncio")


def test_without_uvloop_auto_falls_back_and_uvloop_names_what_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # an import of it now fails
    assert loop_factory("auto") is None
    with pytest.raises(ConfigError, match=r"collector\.event_loop is uvloop, but uvloop is not"):
        loop_factory("uvloop")
