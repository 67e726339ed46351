"""The built-in OPC-UA connector: polls the Value attribute of configured nodes in one batched read.

Errors raised here extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── OpcuaError                 an OPC-UA request failed
        ├── OpcuaConnectionError   the session could not be opened or was lost
        ├── OpcuaTimeoutError      the server did not answer in time
        └── OpcuaNamespaceError    an ``nsu=`` namespace URI is not on the server

``read`` never raises them for a device: each becomes an ERROR ``Event`` naming the device.
Only ``security: none`` is supported; Basic256Sha256 is future work.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import UaError
from sentio.connectors.contract import (
    Connector,
    Event,
    Quality,
    Reading,
    Sample,
    Severity,
    now_ns,
)

from sentio.errors import SentioError

from .config import DeviceConfig, NodeConfig, NodeIdSpec, OpcuaConfig

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class OpcuaError(SentioError):
    """Raise when an OPC-UA request fails."""

    kind = "error"


class OpcuaConnectionError(OpcuaError):
    """Raise when the OPC-UA session cannot be opened or is lost."""

    kind = "connection"


class OpcuaTimeoutError(OpcuaError):
    """Raise when the server does not answer in time."""

    kind = "timeout"


class OpcuaNamespaceError(OpcuaError):
    """Raise when a namespace URI of an ``nsu=`` node id is not in the server's namespace array."""

    kind = "namespace"


def quality_of(status: ua.StatusCode) -> Quality:
    """Map an OPC-UA status code's severity onto a reading's quality."""
    if status.is_good():
        return Quality.GOOD
    if status.is_uncertain():
        return Quality.UNCERTAIN
    return Quality.BAD


def resolve_node_id(spec: NodeIdSpec, namespaces: list[str]) -> ua.NodeId:
    """Return the node id of ``spec``, looking an ``nsu=`` URI up in the namespace array."""
    index = spec.namespace_index
    if index is None:
        try:
            index = namespaces.index(spec.namespace_uri or "")
        except ValueError:
            raise OpcuaNamespaceError(
                f"namespace {spec.namespace_uri!r} is not on the server"
            ) from None
    if isinstance(spec.identifier, int):
        return ua.NodeId(ua.Int32(spec.identifier), ua.Int16(index), ua.NodeIdType.Numeric)
    return ua.NodeId(ua.String(spec.identifier), ua.Int16(index), ua.NodeIdType.String)


def _timestamp_ns(value: datetime | None) -> int:
    if value is None:
        return now_ns()
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - _EPOCH) // timedelta(microseconds=1) * 1000


def _numeric(value: object) -> float | bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return None


class OpcuaConnector(Connector[OpcuaConfig]):
    """Read the values of OPC-UA variable nodes, one batched Read request per poll."""

    config_model = OpcuaConfig

    def __init__(self, config: OpcuaConfig) -> None:
        super().__init__(config)
        self._client: Client | None = None
        self._node_ids: dict[str, list[ua.NodeId]] = {}
        self._unresolved: dict[str, OpcuaNamespaceError] = {}
        self._failing: set[str] = set()

    @property
    def connected(self) -> bool:
        """Return whether a session is open."""
        return self._client is not None

    def node_ids(self, device: str) -> list[ua.NodeId]:
        """Return the resolved node ids of ``device`` (empty until connected)."""
        return list(self._node_ids.get(device, []))

    async def connect(self) -> None:
        """Open a session and resolve ``nsu=`` node ids; raise OpcuaConnectionError on failure."""
        if self._client is not None:
            return
        config = self.config
        client = Client(config.endpoint, timeout=config.timeout_s)
        if config.username is not None and config.password is not None:
            client.set_user(config.username)
            client.set_password(config.password.get_secret_value())
        try:
            await asyncio.wait_for(client.connect(), config.timeout_s)
        except TimeoutError as exc:
            await self._shutdown(client)
            raise OpcuaTimeoutError(
                f"no session with {config.endpoint} within {config.timeout_s:g} s"
            ) from exc
        except Exception as exc:  # OSError, UaError, or asyncua's bare Exception on send
            await self._shutdown(client)
            raise OpcuaConnectionError(f"cannot connect to {config.endpoint}: {exc}") from exc
        try:
            namespaces = await asyncio.wait_for(client.get_namespace_array(), config.timeout_s)
        except Exception as exc:
            await self._shutdown(client)
            raise OpcuaConnectionError(f"cannot read the namespace array: {exc!r}") from exc
        self._client = client
        self._resolve(namespaces)

    def _resolve(self, namespaces: list[str]) -> None:
        self._node_ids.clear()
        self._unresolved.clear()
        for device in self.config.devices:
            try:
                self._node_ids[device.name] = [
                    resolve_node_id(node.spec, namespaces) for node in device.nodes
                ]
            except OpcuaNamespaceError as exc:
                self._unresolved[device.name] = exc

    async def read(self) -> AsyncIterator[Sample]:
        """Poll every device once, yielding its readings, or an ERROR event per failing device."""
        failed: set[str] = set()
        samples: list[Sample] = []
        try:
            await self.connect()
            samples = await self._poll(failed)
        except OpcuaError as exc:
            await self._drop()
            failed = {d.name for d in self.config.devices}
            samples = [self._error_event(d, exc) for d in self.config.devices]
        for sample in samples:
            yield sample
        for device in self.config.devices:
            if device.name in failed:
                self._failing.add(device.name)
            elif device.name in self._failing:
                self._failing.discard(device.name)
                yield Event(
                    device=device.name,
                    body=f"{device.name}: recovered ({self.config.endpoint})",
                    severity=Severity.INFO,
                    attributes={"endpoint": self.config.endpoint},
                )

    async def _poll(self, failed: set[str]) -> list[Sample]:
        client = self._client
        if client is None:
            raise OpcuaConnectionError("not connected")
        samples: list[Sample] = []
        batch: list[tuple[DeviceConfig, NodeConfig]] = []
        node_ids: list[ua.NodeId] = []
        for device in self.config.devices:
            unresolved = self._unresolved.get(device.name)
            if unresolved is not None:
                failed.add(device.name)
                samples.append(self._error_event(device, unresolved))
                continue
            batch.extend((device, node) for node in device.nodes)
            node_ids.extend(self._node_ids[device.name])
        if not batch:
            return samples
        try:
            values = await asyncio.wait_for(
                client.read_attributes([client.get_node(n) for n in node_ids]),
                self.config.timeout_s,
            )
        except TimeoutError as exc:
            raise OpcuaTimeoutError(
                f"no answer to a read of {len(node_ids)} nodes within {self.config.timeout_s:g} s"
            ) from exc
        except (OSError, UaError) as exc:
            raise OpcuaConnectionError(f"read failed: {exc!r}") from exc
        except Exception as exc:  # asyncua wraps some send failures in a bare Exception
            raise OpcuaConnectionError(f"read failed: {exc!r}") from exc
        if len(values) != len(batch):
            raise OpcuaConnectionError(f"{len(values)} results for {len(batch)} nodes")
        for (device, node), data in zip(batch, values, strict=True):
            samples.append(self._sample(device, node, data, failed))
        return samples

    def _sample(
        self, device: DeviceConfig, node: NodeConfig, data: ua.DataValue, failed: set[str]
    ) -> Sample:
        status = data.StatusCode or ua.StatusCode()
        quality = quality_of(status)
        raw = data.Value.Value if data.Value is not None else None
        value = _numeric(raw)
        attributes: dict[str, str] = {"node_id": node.node_id}
        if quality is not Quality.GOOD:
            attributes["status"] = status.name
        if value is None:
            if quality is Quality.BAD:
                value = math.nan
            else:
                failed.add(device.name)
                return Event(
                    device=device.name,
                    body=(
                        f"{device.name}: node {node.name} ({node.node_id}) has a "
                        f"{type(raw).__name__} value, not a number"
                    ),
                    severity=Severity.ERROR,
                    attributes={**attributes, "error": "not_numeric", "metric": node.name},
                )
        return Reading(
            device=device.name,
            metric=node.name,
            value=value,
            unit=node.unit,
            timestamp_ns=_timestamp_ns(data.SourceTimestamp),
            attributes=attributes,
            quality=quality,
        )

    async def close(self) -> None:
        """Close the session; safe to call twice."""
        await self._drop()

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._shutdown(client)

    async def _shutdown(self, client: Client) -> None:
        """Close ``client``'s session, channel and socket, ignoring a dead server."""
        try:
            await asyncio.wait_for(client.disconnect(), self.config.timeout_s)
        except Exception:
            client.disconnect_socket()

    def _error_event(self, device: DeviceConfig, exc: OpcuaError) -> Event:
        return Event(
            device=device.name,
            body=f"{device.name}: polling {self.config.endpoint} failed: {exc}",
            severity=Severity.ERROR,
            attributes={"endpoint": self.config.endpoint, "error": exc.kind},
        )
