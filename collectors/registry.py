"""Find connector plugins by entry point and build them from validated config."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from pydantic import ValidationError
from sentio.connectors.contract import ENTRY_POINT_GROUP, Connector

from sentio.config import ConnectorInstanceConfig
from sentio.errors import ConfigError
from sentio.extras import missing_message


@dataclass(frozen=True)
class Installed:
    """One installed connector plugin."""

    name: str
    target: str
    distribution: str
    version: str
    problem: str | None = None  # why it cannot load here, when it cannot


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def installed() -> list[Installed]:
    """Return every connector registered under the entry-point group, with versions."""
    out = []
    for name, ep in sorted(_entry_points().items()):
        dist = ep.dist
        out.append(
            Installed(
                name, ep.value, dist.name if dist else "?", dist.version if dist else "?",
                _load_problem(ep),
            )
        )  # fmt: skip
    return out


def _load_problem(ep: EntryPoint) -> str | None:
    """Return why ``ep`` cannot be loaded here (a missing extra, a broken plugin), or None."""
    try:
        ep.load()
    except ModuleNotFoundError as exc:
        return missing_message(exc) or f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a broken third-party plugin is reported, not raised
        return f"{type(exc).__name__}: {exc}"
    return None


def build(instance: ConnectorInstanceConfig, where: str) -> Connector[Any]:
    """Load ``instance``'s plugin and validate its settings; raise ConfigError naming ``where``."""
    available = _entry_points()
    ep = available.get(instance.type)
    if ep is None:
        known = ", ".join(sorted(available)) or "none"
        raise ConfigError(
            f"{where}.type: connector {instance.type!r} is not installed: no entry point named "
            f"{instance.type!r} in the group {ENTRY_POINT_GROUP!r} (installed: {known})"
        )
    try:
        cls = ep.load()
    except ModuleNotFoundError as exc:
        reason = missing_message(exc) or str(exc)
        raise ConfigError(
            f"{where}.type: connector {instance.type!r} cannot load: {reason}"
        ) from exc
    except Exception as exc:  # a broken plugin must not be mistaken for a missing one
        raise ConfigError(
            f"{where}.type: connector {instance.type!r} fails to load: {exc}"
        ) from exc
    try:
        settings = cls.config_model.model_validate(instance.config)
    except ValidationError as exc:
        problems = "; ".join(
            f"{where}.config{''.join(f'.{p}' for p in e['loc'])} ({instance.name}): "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ConfigError(problems) from exc
    connector: Connector[Any] = cls(settings)
    return connector
