"""Resolve every configured device to its metrics' node ids, as the server is after a connect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from asyncua import ua
from asyncua.client.client import Client
from sentio.connectors.contract import Event, Severity

from .browse import Namespaces, discover, translate
from .config import DeviceConfig, OpcuaConfig
from .errors import OpcuaBrowseError, OpcuaError, OpcuaNamespaceError
from .paths import BrowsePathSpec, NodeIdSpec, metric_name
from .values import Target


@dataclass(slots=True)
class Resolution:
    """Per device: its resolved metrics, or why it could not be resolved; and notes to report."""

    targets: dict[str, list[Target]] = field(default_factory=dict)
    errors: dict[str, OpcuaError] = field(default_factory=dict)
    notes: dict[str, list[Event]] = field(default_factory=dict)


def _paths(devices: Sequence[DeviceConfig]) -> list[BrowsePathSpec]:
    specs: list[BrowsePathSpec] = []
    for device in devices:
        specs.extend(n.spec for n in device.nodes if isinstance(n.spec, BrowsePathSpec))
        if device.browse is not None and isinstance(device.browse.root_spec, BrowsePathSpec):
            specs.append(device.browse.root_spec)
    return specs


class _Resolver:
    def __init__(self, client: Client, config: OpcuaConfig, namespaces: Namespaces) -> None:
        self.client = client
        self.config = config
        self.namespaces = namespaces
        self.translated: dict[str, ua.NodeId | OpcuaError] = {}

    def node_id(self, spec: NodeIdSpec | BrowsePathSpec) -> ua.NodeId:
        if isinstance(spec, NodeIdSpec):
            return self.namespaces.node_id(spec)
        found = self.translated[spec.text]
        if isinstance(found, OpcuaError):
            raise found
        return found

    async def device(self, device: DeviceConfig, notes: list[Event]) -> list[Target]:
        deadband = self.config.subscription_of(device).deadband
        targets = [
            Target(
                metric=node.name,
                node_id=self.node_id(node.spec),
                address=node.address,
                unit=node.unit,
                attributes={"node_id": node.node_id}
                if node.node_id is not None
                else {"browse_path": node.address},
                deadband=node.deadband or deadband,
            )
            for node in device.nodes
        ]
        browse = device.browse
        if browse is None:
            return targets
        root = self.node_id(browse.root_spec)
        taken = {t.metric for t in targets}
        discovered = await discover(
            self.client, root, browse, self.config.timeout_s, self.namespaces
        )
        if not discovered:
            notes.append(
                Event(
                    device=device.name,
                    body=f"{device.name}: browse below {browse.root} found no variables",
                    severity=Severity.WARN,
                    attributes={"browse_path": browse.root},
                )
            )
        for found in discovered:
            name = metric_name(found.names)
            path = f"{browse.root}/{found.browse_path}"
            if name in taken:
                notes.append(
                    Event(
                        device=device.name,
                        body=f"{device.name}: {path} would be metric {name}, which is taken; "
                        "skipped",
                        severity=Severity.WARN,
                        attributes={"browse_path": path, "metric": name},
                    )
                )
                continue
            taken.add(name)
            attributes = {"browse_path": path}
            targets.append(
                Target(name, found.node_id, path, browse.unit, attributes, deadband=deadband)
            )
        return targets


async def resolve(client: Client, config: OpcuaConfig, uris: Sequence[str]) -> Resolution:
    """Resolve node ids, browse paths and discoveries of every device; raise on a lost session."""
    namespaces = Namespaces(uris, config.namespaces)
    resolver = _Resolver(client, config, namespaces)
    specs = _paths(config.devices)
    unique = list({s.text: s for s in specs}.values())
    answers = await translate(client, unique, namespaces, config.timeout_s)
    resolver.translated = {s.text: a for s, a in zip(unique, answers, strict=True)}
    resolution = Resolution()
    for device in config.devices:
        notes: list[Event] = []
        try:
            resolution.targets[device.name] = await resolver.device(device, notes)
        except (OpcuaNamespaceError, OpcuaBrowseError) as exc:
            resolution.errors[device.name] = exc
        if notes:
            resolution.notes[device.name] = notes
    return resolution
