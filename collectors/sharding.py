"""Share the configured devices among N collectors, the way vmagent's cluster mode shares targets.

Every member reads the same config. A device's identity (``<instance>/<device>``) is hashed
with a stable 64-bit hash; the hash modulo the member count names the device's first member,
and with replication r the r - 1 members after it (wrapping) read it too. Any member therefore
knows, without talking to the others, which devices are its own, and a device stays with its
members across restarts and hosts.

A connector that lists its devices (``devices()``) is polled only for its own; one that reads
everything at once, or pushes, still reads everything and keeps its own devices' samples (the
connection's own health events, named after the instance, stay with every member).

With replication above 1 the members' copies of a reading differ only in their timestamps, so
the metrics backend must deduplicate them (VictoriaMetrics' ``-dedup.minScrapeInterval``, set to
the poll interval), and the copies must carry the same resource: the members' readings then share
one ``service.instance.id`` and ``host.name``. Each member's own telemetry (its sentio_* metrics,
logs and spans) keeps a ``service.instance.id`` of its own, so the members' health series do not
overwrite each other and a silent member is named by SentioCollectorDown.

Errors: ``ShardError`` (a ``ConfigError``) for a malformed ``--shard`` or member number.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel
from sentio.connectors.contract import Connector, DeviceSchedule, Sample

from sentio.config import SentioConfig, ShardConfig
from sentio.shards import ShardError, parse_shard, stable_hash

if TYPE_CHECKING:
    from sentio.collectors.runtime import Collector

__all__ = [
    "Shard", "ShardError", "ShardedConnector", "for_replicas", "parse_shard", "readings_identity",
    "stable_hash",
]  # fmt: skip
ORDINAL = re.compile(r"-(\d+)$")


def device_key(instance: str, device: str) -> str:
    """Return the identity a device is sharded by: its connector instance and its name."""
    return f"{instance}/{device}"


@dataclass(frozen=True)
class Shard:
    """Member ``member`` of ``count``; each device is read by ``replication`` members."""

    member: int
    count: int
    replication: int = 1

    def __post_init__(self) -> None:
        if self.count < 1:
            raise ShardError(f"a shard count must be at least 1, not {self.count}")
        if not 0 <= self.member < self.count:
            raise ShardError(f"member {self.member} is not in 0..{self.count - 1}")
        if not 1 <= self.replication <= self.count:
            raise ShardError(f"replication {self.replication} is not in 1..{self.count}")

    def members(self, key: str) -> tuple[int, ...]:
        """Return the members that read the device ``key``, its first member first."""
        first = stable_hash(key) % self.count
        return tuple((first + i) % self.count for i in range(self.replication))

    def owns(self, key: str) -> bool:
        """Return whether this member reads the device ``key``."""
        return self.member in self.members(key)

    def __str__(self) -> str:
        copies = f", each device on {self.replication}" if self.replication > 1 else ""
        return f"shard {self.member}/{self.count}{copies}"


def ordinal(name: str) -> int | None:
    """Return the ordinal a StatefulSet pod's name ends with (``sentio-collector-3``: 3)."""
    match = ORDINAL.search(name)
    return int(match[1]) if match else None


def resolve(
    option: str | None,
    replication: int | None,
    config: ShardConfig | None,
    environ: Mapping[str, str] | None = None,
) -> Shard | None:
    """Return this collector's shard, or None when it reads every device.

    The member and count come from, in order: ``--shard i/n``; ``SENTIO_SHARD`` (``i/n``); the
    count from ``collector.shard.count`` or ``SENTIO_SHARD_COUNT`` with the member from
    ``collector.shard.member``, ``SENTIO_SHARD_MEMBER`` or the ordinal ending ``POD_NAME`` or
    ``HOSTNAME`` (a StatefulSet's pod). Replication: ``--replication``, else the config's.
    """
    env = os.environ if environ is None else environ
    copies = replication or (config.replication if config else 1)
    text = option or env.get("SENTIO_SHARD")
    if text:
        return Shard(*parse_shard(text), copies)
    count_text = str(config.count) if config else env.get("SENTIO_SHARD_COUNT")
    if not count_text:
        if replication and replication > 1:
            raise ShardError("--replication needs a shard: --shard i/n or collector.shard")
        return None
    try:
        count = int(count_text)
    except ValueError:
        raise ShardError(f"SENTIO_SHARD_COUNT={count_text!r} is not a number") from None
    member: int | None = config.member if config else None
    if member is None and env.get("SENTIO_SHARD_MEMBER", "").strip():
        try:
            member = int(env["SENTIO_SHARD_MEMBER"])
        except ValueError:
            raise ShardError(
                f"SENTIO_SHARD_MEMBER={env['SENTIO_SHARD_MEMBER']!r} is not a number"
            ) from None
    for variable in ("POD_NAME", "HOSTNAME"):
        if member is None and env.get(variable):
            member = ordinal(env[variable])
    if member is None:
        raise ShardError(
            f"sharded over {count} members but no member number: pass --shard i/{count}, set "
            "SENTIO_SHARD_MEMBER, or run as a StatefulSet pod (a name ending in -<ordinal>)"
        )
    return Shard(member, count, copies)


def member_instance_id(base: str, member: int) -> str:
    """Return member ``member``'s own ``service.instance.id``: ``base``, made distinct by it.

    A StatefulSet pod's host name ends in its ordinal already (``sentio-collector-2``).
    """
    return base if base.endswith(f"-{member}") else f"{base}-{member}"


def for_replicas(config: SentioConfig, shard: Shard | None) -> SentioConfig:
    """Return ``config`` with the member's own ``service.instance.id``, for its own telemetry.

    Members on one host, or sharing a configured id, would otherwise export their health under
    one identity, each overwriting the others'. Their readings keep ``readings_identity``.
    """
    if shard is None or shard.count == 1:
        return config
    own = member_instance_id(config.instance_id(), shard.member)
    service = config.service.model_copy(update={"instance_id": own})
    return config.model_copy(update={"service": service})


def readings_identity(config: SentioConfig, shard: Shard | None) -> dict[str, str]:
    """Return the resource attributes the member's readings carry instead of its own.

    ``config`` is the shared one (before ``for_replicas``). Replicated: one identity for every
    member, so the copies of a reading are one series the backend deduplicates. Sharded
    without replicas: the configured identity, so a device's series do not change with the
    member that reads it on this host.
    """
    if shard is None or shard.count == 1:
        return {}
    if shard.replication == 1:
        return {"service.instance.id": config.instance_id()}
    name = f"{config.service.name}-collector"
    return {
        "service.instance.id": config.service.instance_id or name,
        "host.name": config.service.host_name or name,
    }


class ShardedConnector(Connector[BaseModel]):
    """A connector seen through a shard: only the member's own devices are polled or kept."""

    config_model = BaseModel

    def __init__(self, inner: Connector[Any], instance: str, shard: Shard) -> None:
        super().__init__(inner.config)
        self.inner = inner
        self.instance = instance
        self.shard = shard
        # The contract's flags (push, changes_only, ...) are the wrapped connector's.
        for name, default in vars(Connector).items():
            if not name.startswith("_") and isinstance(default, bool):
                setattr(self, name, getattr(inner, name))

    def owns(self, device: str) -> bool:
        """Return whether this member keeps ``device``'s samples (the instance's own, always)."""
        return device == self.instance or self.shard.owns(device_key(self.instance, device))

    async def connect(self) -> None:
        """Connect the wrapped connector."""
        await self.inner.connect()

    async def read(self) -> AsyncIterator[Sample]:
        """Yield the wrapped connector's samples of this member's devices."""
        async for sample in self.inner.read():
            if self.owns(sample.device):
                yield sample

    def devices(self) -> Sequence[DeviceSchedule]:
        """Return the wrapped connector's devices that this member polls."""
        return [d for d in self.inner.devices() if self.owns(d.name)]

    def poll(self, device: str) -> AsyncIterator[Sample]:
        """Poll one of this member's devices."""
        return self.inner.poll(device)

    async def close(self) -> None:
        """Close the wrapped connector."""
        await self.inner.close()


def apply(collector: Collector, shard: Shard | None) -> dict[str, list[str] | None]:
    """Restrict ``collector`` to ``shard``; return each instance's own devices (None: unlisted).

    Call it before ``Collector.run``.
    """
    owned: dict[str, list[str] | None] = {}
    for inst in collector.instances:
        if shard is not None and not isinstance(inst.connector, ShardedConnector):
            inst.connector = ShardedConnector(inst.connector, inst.config.name, shard)
        listed = inst.connector.devices()
        owned[inst.config.name] = [d.name for d in listed] if listed else None
    return owned


def describe(shard: Shard, owned: Mapping[str, list[str] | None]) -> list[str]:
    """Return the lines `sentio run --shard` prints: what this member reads."""
    lines = [f"{shard}: reading these devices"]
    for instance, devices in owned.items():
        if devices is None:
            lines.append(f"  {instance}: devices are not listed up front; keeping this shard's "
                         "as they report")  # fmt: skip
        else:
            lines.append(f"  {instance} ({len(devices)}): {', '.join(devices) or '(none)'}")
    return lines


def owned_devices(config: SentioConfig, shard: Shard | None) -> dict[str, list[str] | None]:
    """Return each connector instance's devices this member reads, without connecting any."""
    from sentio.collectors.registry import build

    owned: dict[str, list[str] | None] = {}
    for index, inst in enumerate(config.connectors):
        connector = build(inst, f"connectors[{index}]")
        if shard is not None:
            connector = ShardedConnector(connector, inst.name, shard)
        listed = connector.devices()
        owned[inst.name] = [d.name for d in listed] if listed else None
    return owned
