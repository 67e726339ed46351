"""The built-in OPC-UA connector: polls variable nodes, or subscribes to their changes.

Configuration (``sample.yaml`` shows every key)::

    security: {policy: None | Basic256Sha256, mode: Sign | SignAndEncrypt,
               certificate, private_key, server_certificate, cert_dir, application_uri}
    mode: poll | subscribe          # how every device of this endpoint is read
    subscription: {publishing_interval_s, sampling_interval_s, queue_size,
                   deadband: {type: absolute | percent, value}}
    namespaces: {plant: urn:example:plant}       # aliases for browse paths
    devices:
      - name: pump-1
        poll_interval_s: 5                       # mode poll: each device on its own schedule
        subscription: {...}                      # mode subscribe: replaces the connector's
        nodes:
          - {name: speed, node_id: "nsu=urn:example:plant;s=Pump1.Speed", unit: "1/min"}
          - {name: temperature, path: "Objects/plant:Line1/plant:Pump1/plant:Temperature"}
        browse: {root: "Objects/plant:Line1", include: ["*Temperature*"], exclude: [],
                 max_depth: 5, max_nodes: 1000, unit: Cel}

Node ids are ``ns=<index>;i=<n>``, ``ns=<index>;s=<name>`` or ``nsu=<uri>;...``. A browse path
names the nodes from the Root folder, separated by ``/``, each ``<index>:<name>``,
``<alias>:<name>`` (an alias from ``namespaces``) or ``<name>`` (namespace 0). ``browse`` finds
every numeric variable up to ``max_depth`` levels below ``root`` (a path or a node id), following
hierarchical references other than properties; ``include`` and ``exclude`` are globs (``*``
crosses ``/``) matched against the browse names below the root joined by ``/``, e.g.
``Pump1/Temperature``, which also names the metric: ``pump1_temperature``. Node ids of ``nsu=``,
paths and discoveries are resolved again after every connect.

Errors are those of ``errors.py``. In mode poll, ``read`` (every device in one request) and
``poll`` (one device) never raise them: each becomes an ERROR ``Event`` naming the device, and
the collector, which owns device health, logs the device down once and its recovery once. In
mode subscribe the connector is a push connector: ``read`` yields samples as the server publishes
them, raises ``OpcuaConnectionError`` when the session is lost (the runtime then connects again,
which recreates the subscriptions), and ends when ``close`` is called.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

from asyncua import ua
from asyncua.client.client import Client
from asyncua.common.utils import NotEnoughData
from sentio.connectors.contract import (
    Connector,
    DeviceSchedule,
    Event,
    Sample,
    Severity,
    now_ns,
)

from .browse import Namespaces
from .config import DeviceConfig, OpcuaConfig
from .errors import (
    OpcuaBrowseError,
    OpcuaConnectionError,
    OpcuaError,
    OpcuaNamespaceError,
    OpcuaSecurityError,
    OpcuaTimeoutError,
    guard,
)
from .paths import NodeIdSpec
from .resolve import Resolution, resolve
from .security import secure, untrusted
from .subscribe import Feed, subscribe
from .values import Stamping, Target, quality_of, to_samples

__all__ = [
    "OpcuaBrowseError",
    "OpcuaConnectionError",
    "OpcuaConnector",
    "OpcuaError",
    "OpcuaNamespaceError",
    "OpcuaSecurityError",
    "OpcuaTimeoutError",
    "quality_of",
    "resolve_node_id",
]


def _dropped(cause: BaseException | None) -> bool:
    return isinstance(cause, AssertionError | NotEnoughData | ConnectionError | EOFError)


class _QuietChannel(logging.Filter):
    """Drop asyncua's traceback of a channel the server closed: the connector reports it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], NotEnoughData):
            return False
        return not str(record.msg).startswith("close_secure_channel was called but connection")


logging.getLogger("asyncua.client.ua_client.UASocketProtocol").addFilter(_QuietChannel())
logging.getLogger("asyncua.client.ua_client.UaClient").addFilter(_QuietChannel())


def resolve_node_id(spec: NodeIdSpec, namespaces: list[str]) -> ua.NodeId:
    """Return the node id of ``spec``, looking an ``nsu=`` URI up in the namespace array."""
    return Namespaces(namespaces, {}).node_id(spec)


class OpcuaConnector(Connector[OpcuaConfig]):
    """Read OPC-UA variables: batched polls per device, or subscriptions that push changes."""

    config_model = OpcuaConfig

    def __init__(self, config: OpcuaConfig) -> None:
        super().__init__(config)
        self.push = config.mode == "subscribe"
        # a subscription reports changes only: the runtime's heartbeat keeps constant values
        self.changes_only = self.push
        self._devices = {d.name: d for d in config.devices}
        self._client: Client | None = None
        self._lock = asyncio.Lock()
        self._resolution = Resolution()
        self._feed = Feed()
        self._closed = False
        self._stamping = Stamping(config.timestamp, config.source_timestamps)
        self._trust_note: str | None = None

    @property
    def connected(self) -> bool:
        """Return whether a session is open."""
        return self._client is not None

    def targets(self, device: str) -> list[Target]:
        """Return the metrics of ``device`` as resolved at the last connect."""
        return list(self._resolution.targets.get(device, []))

    def node_ids(self, device: str) -> list[ua.NodeId]:
        """Return the resolved node ids of ``device`` (empty until connected)."""
        return [t.node_id for t in self.targets(device)]

    def devices(self) -> Sequence[DeviceSchedule]:
        """Return each device with its own poll interval (none in mode subscribe)."""
        if self.push:
            return ()
        return tuple(DeviceSchedule(d.name, d.poll_interval_s) for d in self.config.devices)

    async def connect(self) -> None:
        """Open a session, resolve every device, and subscribe in mode subscribe."""
        self._closed = False
        async with self._lock:
            if self._client is not None:
                return
            config = self.config
            client = Client(config.endpoint, timeout=config.timeout_s)
            if config.username is not None and config.password is not None:
                client.set_user(config.username)
                client.set_password(config.password.get_secret_value())
            feed = Feed()
            try:
                self._trust_note = await secure(client, config) or self._trust_note
                await self._open(client)
                uris = await guard(
                    client.get_namespace_array(), "reading the namespace array", config.timeout_s
                )
                resolution = await resolve(client, config, uris)
                self._note_trust(resolution)
                if self.push:
                    client.connection_lost_callback = self._on_lost(feed)
                    await self._subscribe(client, resolution, feed, self._stamping)
            except BaseException:
                await self._shutdown(client)
                raise
            if self._closed:
                await self._shutdown(client)
                return
            self._client, self._resolution, self._feed = client, resolution, feed

    async def _open(self, client: Client) -> None:
        """Open the secure channel and the session, naming an untrusted client certificate."""
        config = self.config
        try:
            await guard(
                client.connect(), f"opening a session with {config.endpoint}", config.timeout_s
            )
        except OpcuaSecurityError:
            raise
        except OpcuaConnectionError as exc:
            # the server answered for its endpoints a moment ago, so a channel it drops at once
            # under a security policy is a refused client certificate (asyncua then trips on
            # the empty answer: AssertionError, NotEnoughData)
            if config.security.policy == "None" or not _dropped(exc.__cause__):
                raise
            raise untrusted(config.security, config.endpoint, f"{exc.__cause__!r}") from exc

    def _note_trust(self, resolution: Resolution) -> None:
        """Report a certificate trusted on first use in the exported logs, once."""
        note, self._trust_note = self._trust_note, None
        if note is not None:
            device = self.config.devices[0].name
            event = Event(
                device, note, Severity.WARN, attributes={"endpoint": self.config.endpoint}
            )
            resolution.notes.setdefault(device, []).insert(0, event)

    def _on_lost(self, feed: Feed) -> Callable[[Exception], Coroutine[Any, Any, None]]:
        endpoint = self.config.endpoint

        async def lost(exc: Exception) -> None:
            feed.put(OpcuaConnectionError(f"lost the session with {endpoint}: {exc!r}"))

        return lost

    async def _subscribe(
        self, client: Client, resolution: Resolution, feed: Feed, stamping: Stamping
    ) -> None:
        for device in self.config.devices:
            for note in resolution.notes.pop(device.name, []):
                feed.put(note)
            error = resolution.errors.get(device.name)
            targets = resolution.targets.get(device.name, [])
            events: list[Event] = []
            if error is not None:
                events.append(self._error_event(device, error))
            elif targets:
                settings = self.config.subscription_of(device)
                timeout_s = self.config.timeout_s
                events = await subscribe(
                    client, device.name, targets, settings, feed, stamping, timeout_s
                )
            for event in events:
                feed.put(event)

    async def read(self) -> AsyncIterator[Sample]:
        """Poll every device once (mode poll), or yield changes until closed (mode subscribe)."""
        samples = self._stream() if self.push else self._poll(self.config.devices)
        async for sample in samples:
            yield sample

    async def poll(self, device: str) -> AsyncIterator[Sample]:
        """Poll one device once, yielding its readings, or an ERROR event when it fails."""
        async for sample in self._poll([self._devices[device]]):
            yield sample

    async def _stream(self) -> AsyncIterator[Sample]:
        if self._closed:
            return
        await self.connect()
        if self._closed:
            return
        client, feed = self._client, self._feed
        while True:
            item = await feed.get()
            if item is None:
                return
            if isinstance(item, OpcuaError):
                await self._drop(client)
                raise item
            yield item

    async def _poll(self, devices: Sequence[DeviceConfig]) -> AsyncIterator[Sample]:
        client: Client | None = None
        try:
            await self.connect()
            client = self._client
            samples = await self._read_values(client, devices)
        except OpcuaError as exc:
            await self._drop(client)
            samples = [self._error_event(d, exc) for d in devices]
        for sample in samples:
            yield sample

    async def _read_values(
        self, client: Client | None, devices: Sequence[DeviceConfig]
    ) -> list[Sample]:
        if client is None:
            raise OpcuaConnectionError("not connected")
        samples: list[Sample] = []
        batch: list[tuple[str, Target]] = []
        for device in devices:
            samples.extend(self._resolution.notes.pop(device.name, []))
            error = self._resolution.errors.get(device.name)
            if error is not None:
                samples.append(self._error_event(device, error))
                continue
            batch.extend((device.name, t) for t in self._resolution.targets.get(device.name, []))
        if not batch:
            return samples
        values = await guard(
            client.read_attributes([client.get_node(t.node_id) for _, t in batch]),
            f"reading {len(batch)} nodes",
            self.config.timeout_s,
        )
        gathered = now_ns()
        if len(values) != len(batch):
            raise OpcuaConnectionError(f"{len(values)} results for {len(batch)} nodes")
        for (device_name, target), data in zip(batch, values, strict=True):
            samples.extend(to_samples(device_name, target, data, self._stamping, gathered))
        return samples

    async def close(self) -> None:
        """End a subscribing ``read`` and close the session; safe to call twice."""
        self._closed = True
        self._feed.put(None)
        await self._drop(self._client)

    async def _drop(self, client: Client | None) -> None:
        if client is not None and client is self._client:
            self._client = None
            await self._shutdown(client)

    async def _shutdown(self, client: Client) -> None:
        """Close ``client``'s session, channel and socket, ignoring a dead server."""
        try:
            await asyncio.wait_for(client.disconnect(), self.config.timeout_s)
        except Exception:
            client.disconnect_socket()

    def _error_event(self, device: DeviceConfig, exc: OpcuaError) -> Event:
        verb = "subscribing to" if self.push else "polling"
        return Event(
            device=device.name,
            body=f"{device.name}: {verb} {self.config.endpoint} failed: {exc}",
            severity=Severity.ERROR,
            attributes={"endpoint": self.config.endpoint, "error": exc.kind},
        )
