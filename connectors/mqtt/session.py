"""One MQTT broker connection that resubscribes after every reconnect, shared by the connectors.

Errors raised here extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── MqttConnectorError        an MQTT broker operation failed
        ├── MqttConnectionError   the broker could not be reached, refused us, or dropped us
        └── MqttSubscribeError    the broker refused a subscription

``MqttSession.messages`` raises ``MqttConnectionError`` when the connection is lost; the
collector then marks the entry down, closes it, backs off and connects again, which
subscribes again, and logs the recovery once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Sequence

import aiomqtt
from sentio.connectors.contract import (
    ConnectorConnectionError,
    ConnectorError,
    ConnectorProtocolError,
)

from sentio.errors import SentioError

from .config import BrokerConfig

SUBSCRIBE_FAILURE = 0x80


class MqttConnectorError(SentioError, ConnectorError):
    """Raise when an MQTT broker operation fails."""


class MqttConnectionError(MqttConnectorError, ConnectorConnectionError):
    """Raise when the broker cannot be reached, refuses the connection, or drops it."""


class MqttSubscribeError(MqttConnectorError, ConnectorProtocolError):
    """Raise when the broker refuses a subscription."""


async def exit_client(client: aiomqtt.Client) -> None:
    """Leave a client's context; after a lost connection, retrieve the error it kept.

    aiomqtt (2.5) stores an unexpected disconnection's ``MqttCodeError`` in a future that its
    ``__aexit__`` then skips, so asyncio would report "Future exception was never retrieved"
    (``[code:128]`` when the broker went away) once the client is collected.
    """
    with contextlib.suppress(aiomqtt.MqttError):
        await client.__aexit__(None, None, None)
    disconnected = getattr(client, "_disconnected", None)
    if not isinstance(disconnected, asyncio.Future):
        return
    if disconnected.done() and not disconnected.cancelled():
        disconnected.exception()


def bounded_queue(session: MqttSession) -> type[asyncio.Queue[aiomqtt.Message]]:
    """Return a queue class that drops a message when full and counts it on ``session``.

    aiomqtt (2.5) logs a warning for every message its full queue refuses; this queue never
    refuses, so a flood costs a count, not a log line per message.
    """

    class BoundedQueue(asyncio.Queue[aiomqtt.Message]):
        def put_nowait(self, item: aiomqtt.Message) -> None:
            if self.full():
                session.dropped += 1
                return
            super().put_nowait(item)

    return BoundedQueue


def _failed(code: object) -> bool:
    value = getattr(code, "value", code)
    return isinstance(value, int) and value >= SUBSCRIBE_FAILURE


class MqttSession:
    """Keep one client connected to a broker and subscribed to a fixed set of topic filters."""

    def __init__(self, broker: BrokerConfig, filters: Sequence[str]) -> None:
        self.broker = broker
        self.filters = tuple(dict.fromkeys(filters))
        self._client: aiomqtt.Client | None = None
        self._closing = asyncio.Event()
        self.dropped = 0  # messages dropped, the incoming queue full

    @property
    def connected(self) -> bool:
        """Return whether a client is connected and subscribed."""
        return self._client is not None

    async def connect(self) -> None:
        """Connect and subscribe; raise MqttConnectionError or MqttSubscribeError on failure."""
        if self._client is None:
            self._closing.clear()
            await self._open()

    async def messages(self) -> AsyncGenerator[aiomqtt.Message, None]:
        """Yield messages as they arrive until closed; raise MqttConnectionError when lost."""
        if self._closing.is_set():
            return
        if self._client is None:
            await self._open()
        client = self._client
        if client is None:
            return
        try:
            async for message in client.messages:
                yield message
        except aiomqtt.MqttError as exc:
            if self._closing.is_set():
                return
            await self._drop()
            raise MqttConnectionError(
                f"connection to broker {self.broker.label} lost: {exc}"
            ) from exc

    async def close(self) -> None:
        """Disconnect and stop ``messages``; safe to call twice."""
        self._closing.set()
        await self._drop()

    async def _open(self) -> None:
        """Connect a fresh client and subscribe to every filter."""
        client = self._new_client()
        try:
            await client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise MqttConnectionError(f"cannot connect to {self.broker.label}: {exc}") from exc
        try:
            for topic_filter in self.filters:
                codes = await client.subscribe(topic_filter, qos=self.broker.qos)
                if any(_failed(code) for code in codes):
                    raise MqttSubscribeError(
                        f"broker {self.broker.label} refused the subscription to {topic_filter!r}"
                    )
        except aiomqtt.MqttError as exc:
            await self._exit(client)
            raise MqttConnectionError(f"subscribing at {self.broker.label} failed: {exc}") from exc
        except MqttSubscribeError:
            await self._exit(client)
            raise
        if self._closing.is_set():
            await self._exit(client)
            return
        self._client = client

    def _new_client(self) -> aiomqtt.Client:
        broker = self.broker
        tls = broker.tls
        return aiomqtt.Client(
            broker.host,
            broker.port,
            username=broker.username,
            password=broker.password.get_secret_value() if broker.password else None,
            identifier=broker.client_id,
            clean_session=broker.clean_session,
            keepalive=broker.keepalive_s,
            timeout=broker.timeout_s,
            tls_params=None
            if tls is None
            else aiomqtt.TLSParameters(
                ca_certs=str(tls.ca_file) if tls.ca_file else None,
                certfile=str(tls.cert_file) if tls.cert_file else None,
                keyfile=str(tls.key_file) if tls.key_file else None,
            ),
            tls_insecure=tls.insecure if tls is not None else None,
            queue_type=bounded_queue(self),
            max_queued_incoming_messages=broker.max_queued_messages,
        )

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._exit(client)

    @staticmethod
    async def _exit(client: aiomqtt.Client) -> None:
        await exit_client(client)
