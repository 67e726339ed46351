"""Sentio's distribution name and optional extras: which module comes from which extra."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

from sentio.errors import MissingExtraError

DISTRIBUTION = "sentio-iot"
# The top-level module a command imports -> the extra (pyproject.toml) that installs it.
EXTRAS: dict[str, str] = {
    "pymodbus": "modbus",
    "serial": "modbus",
    "asyncua": "opcua",
    "aiomqtt": "mqtt",
    "paho": "mqtt",
    "grafana_client": "grafana",
    "grafana_foundation_sdk": "grafana",
    "lark": "logql",
    "hypothesis": "dev",
}


def missing_extra(exc: ImportError) -> str | None:
    """Return the extra that provides the module ``exc`` could not import, if it is one."""
    name = (exc.name or "").partition(".")[0]
    return EXTRAS.get(name)


def install_hint(extra: str) -> str:
    """Return the command that installs ``extra``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def missing_message(exc: ImportError) -> str | None:
    """Return one line saying which extra to install for ``exc``, or None if none provides it."""
    extra = missing_extra(exc)
    if extra is None:
        return None
    every = "" if extra == "dev" else f" (or '{DISTRIBUTION}[all]' for every extra)"
    hint = install_hint(extra)
    return f"{exc.name} is not installed; it comes with the {extra!r} extra: {hint}{every}"


def require(command: str, extras: Sequence[str]) -> None:
    """Raise MissingExtraError naming every extra of ``extras`` that ``command`` needs and lacks."""
    missing = [
        extra
        for extra in extras
        if any(
            importlib.util.find_spec(module) is None
            for module, provider in EXTRAS.items()
            if provider == extra
        )
    ]
    if missing:
        hint = install_hint(missing[0] if len(missing) == 1 else "all")
        names = ", ".join(missing)
        raise MissingExtraError(f"{command} needs the {names} extra(s), missing here: {hint}")
