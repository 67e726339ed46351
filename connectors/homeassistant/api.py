"""Home Assistant's WebSocket and REST APIs, as far as the connector uses them.

Errors raised here extend Sentio's tree (``sentio.errors``)::

    SentioError
    └── HomeAssistantError                 talking to Home Assistant failed
        ├── HomeAssistantConnectionError   the server cannot be reached, or the connection was lost
        │   └── WebSocketUnavailable       the server answers HTTP but not the WebSocket API
        ├── HomeAssistantAuthError         the server rejected the access token
        └── HomeAssistantProtocolError     the server refused a command or broke the protocol

No message names the token. Bad input inside a connection (a frame that is not JSON, an event
without data) is not an error: it comes back as a ``Malformed`` item and the stream goes on.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from sentio.connectors.contract import (
    ConnectorConnectionError,
    ConnectorError,
    ConnectorProtocolError,
)

from sentio.errors import SentioError

from .config import HomeAssistantConfig
from .states import preview

MAX_MESSAGE_BYTES = 64 << 20
STATE_CHANGED = "state_changed"


class HomeAssistantError(SentioError, ConnectorError):
    """Raise when talking to Home Assistant fails."""

    kind = "error"


class HomeAssistantConnectionError(HomeAssistantError, ConnectorConnectionError):
    """Raise when the server cannot be reached, does not answer in time, or drops us."""

    kind = "connection"


class WebSocketUnavailable(HomeAssistantConnectionError):
    """Raise when the server answers HTTP but refuses the WebSocket upgrade."""

    kind = "websocket_unavailable"


class HomeAssistantAuthError(HomeAssistantError, ConnectorConnectionError):
    """Raise when the server rejects the access token."""

    kind = "auth"


class HomeAssistantProtocolError(HomeAssistantError, ConnectorProtocolError):
    """Raise when the server refuses a command or answers outside the documented protocol."""

    kind = "protocol"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every state, from ``get_states`` or ``GET /api/states``."""

    states: object


@dataclass(frozen=True, slots=True)
class Change:
    """The data of one ``state_changed`` event: entity_id, old_state, new_state."""

    data: object


@dataclass(frozen=True, slots=True)
class Malformed:
    """A message the connector cannot use, and why."""

    problem: str


Item = Snapshot | Change | Malformed


class WebSocketApi:
    """One authenticated WebSocket connection subscribed to ``state_changed``."""

    def __init__(self, config: HomeAssistantConfig, http: aiohttp.ClientSession) -> None:
        self.config = config
        self.http = http
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)
        self._subscription = 0

    async def open(self) -> list[Item]:
        """Connect, authenticate, subscribe and read every state; return what arrived by then."""
        config = self.config
        try:
            self._ws = await self.http.ws_connect(
                config.websocket_url,
                heartbeat=config.heartbeat_s,
                max_msg_size=MAX_MESSAGE_BYTES,
                timeout=aiohttp.ClientWSTimeout(ws_close=config.timeout_s),
            )
        except aiohttp.WSServerHandshakeError as exc:
            raise WebSocketUnavailable(
                f"{config.websocket_url} refused the WebSocket upgrade (HTTP {exc.status})"
            ) from exc
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise HomeAssistantConnectionError(
                f"cannot connect to {config.websocket_url}: {_describe(exc)}"
            ) from exc
        try:
            await self._authenticate()
            self._subscription = await self._send("subscribe_events", event_type=STATE_CHANGED)
            await self._result(self._subscription, "subscribe_events")
            return await self._states()
        except BaseException:
            await self.close()
            raise

    async def receive(self, wait_s: float | None = None) -> list[Item]:
        """Return the items of the next message; none if ``wait_s`` passes first."""
        ws = self._socket()
        try:
            message = await ws.receive(timeout=wait_s)
        except TimeoutError:
            return []
        return self._items(message)

    async def close(self) -> None:
        """Close the connection; safe to call twice."""
        ws, self._ws = self._ws, None
        if ws is not None:
            await ws.close()

    def _socket(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None:
            raise HomeAssistantConnectionError("the WebSocket connection is closed")
        return self._ws

    async def _authenticate(self) -> None:
        first = await self._next("auth_required")
        if first.get("type") != "auth_required":
            raise HomeAssistantProtocolError(
                f"{self.config.websocket_url} did not ask for authentication: {preview(first)}"
            )
        token = self.config.token.get_secret_value()
        await self._write({"type": "auth", "access_token": token})
        answer = await self._next("auth_ok")
        if answer.get("type") == "auth_invalid":
            reason = _redact(str(answer.get("message", "no reason given")), token)
            raise HomeAssistantAuthError(
                f"Home Assistant at {self.config.base_url} rejected the access token ({reason}); "
                "check `token`: a long-lived access token from the user's profile page"
            )
        if answer.get("type") != "auth_ok":
            raise HomeAssistantProtocolError(
                f"expected auth_ok or auth_invalid, got {preview(_redact(str(answer), token))}"
            )

    async def _send(self, command: str, **fields: object) -> int:
        ident = next(self._ids)
        await self._write({"id": ident, "type": command, **fields})
        return ident

    async def _write(self, message: Mapping[str, object]) -> None:
        try:
            await self._socket().send_json(message)
        except (aiohttp.ClientError, OSError) as exc:
            raise HomeAssistantConnectionError(
                f"sending to {self.config.websocket_url} failed: {_describe(exc)}"
            ) from exc

    async def _result(self, ident: int, command: str) -> None:
        while True:
            for message in await self._next_objects(f"the result of {command}"):
                if message.get("id") == ident and message.get("type") == "result":
                    _check_success(message, command)
                    return

    async def _states(self) -> list[Item]:
        ident = await self._send("get_states")
        items: list[Item] = []
        while True:
            message = await self._receive_within("the result of get_states")
            for item in self._items(message, result_of=ident):
                items.append(item)
                if isinstance(item, Snapshot):
                    return items

    async def _next(self, expected: str) -> Mapping[str, Any]:
        messages = await self._next_objects(expected)
        if len(messages) != 1:
            raise HomeAssistantProtocolError(
                f"expected one {expected} message, got {preview(messages)}"
            )
        return messages[0]

    async def _next_objects(self, expected: str) -> list[Mapping[str, Any]]:
        message = await self._receive_within(expected)
        if message.type is not aiohttp.WSMsgType.TEXT:
            raise HomeAssistantProtocolError(
                f"expected {expected}, got a {message.type.name} frame"
            )
        try:
            data = json.loads(message.data)
        except (ValueError, RecursionError):  # too deeply nested: RecursionError
            raise HomeAssistantProtocolError(
                f"expected {expected}, got text that is not JSON: {preview(message.data)}"
            ) from None
        objects = data if isinstance(data, list) else [data]
        if not all(isinstance(o, dict) for o in objects):
            raise HomeAssistantProtocolError(f"expected {expected}, got {preview(data)}")
        return objects

    async def _receive_within(self, expected: str) -> aiohttp.WSMessage:
        ws = self._socket()
        try:
            message = await ws.receive(timeout=self.config.timeout_s)
        except TimeoutError:
            raise HomeAssistantConnectionError(
                f"no {expected} from {self.config.websocket_url} within {self.config.timeout_s:g} s"
            ) from None
        _check_open(message, self.config.websocket_url)
        return message

    def _items(self, message: aiohttp.WSMessage, result_of: int | None = None) -> list[Item]:
        _check_open(message, self.config.websocket_url)
        if message.type is not aiohttp.WSMsgType.TEXT:
            return [Malformed(f"a {message.type.name} frame instead of JSON text")]
        try:
            data = json.loads(message.data)
        except (ValueError, RecursionError):  # too deeply nested: RecursionError
            return [Malformed(f"a message that is not JSON: {preview(message.data)}")]
        items: list[Item] = []
        for one in data if isinstance(data, list) else [data]:
            item = self._item(one, result_of)
            if item is not None:
                items.append(item)
        return items

    def _item(self, message: object, result_of: int | None) -> Item | None:
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            return Malformed(f"a message without a type: {preview(message)}")
        kind = message["type"]
        if kind == "result" and result_of is not None and message.get("id") == result_of:
            _check_success(message, "get_states")
            return Snapshot(message.get("result"))
        if kind != "event" or message.get("id") != self._subscription:
            return None
        event = message.get("event")
        if not isinstance(event, dict) or "data" not in event:
            return Malformed(f"an event without data: {preview(message)}")
        if event.get("event_type", STATE_CHANGED) != STATE_CHANGED:
            return Malformed(f"an event of type {preview(event.get('event_type'))}")
        return Change(event["data"])


class RestApi:
    """The REST API: ``GET /api/`` to check the token, ``GET /api/states`` to poll."""

    def __init__(self, config: HomeAssistantConfig, http: aiohttp.ClientSession) -> None:
        self.config = config
        self.http = http

    async def check(self) -> None:
        """Raise unless ``GET /api/`` answers 200 to the token."""
        await self._get("/api/")

    async def states(self) -> Item:
        """Return every state, or what was wrong with the answer."""
        body = await self._get("/api/states")
        try:
            return Snapshot(json.loads(body))
        except (ValueError, RecursionError):  # too deeply nested: RecursionError
            return Malformed(
                f"GET /api/states answered with text that is not JSON: {preview(body)}"
            )

    async def _get(self, path: str) -> str:
        url = self.config.base_url + path
        headers = {"Authorization": f"Bearer {self.config.token.get_secret_value()}"}
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self.http.get(url, headers=headers, timeout=timeout) as response:
                if response.status in (401, 403):
                    raise HomeAssistantAuthError(
                        f"Home Assistant at {self.config.base_url} rejected the access token "
                        f"(HTTP {response.status} from GET {path}); check `token`: a long-lived "
                        "access token from the user's profile page"
                    )
                if response.status != 200:
                    raise HomeAssistantConnectionError(f"GET {url} answered HTTP {response.status}")
                return await response.text()
        except TimeoutError:
            raise HomeAssistantConnectionError(
                f"no answer from GET {url} within {self.config.timeout_s:g} s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            raise HomeAssistantConnectionError(f"GET {url} failed: {_describe(exc)}") from exc


def _check_open(message: aiohttp.WSMessage, url: str) -> None:
    closed = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
    if message.type in closed:
        raise HomeAssistantConnectionError(f"the connection to {url} was closed")
    if message.type is aiohttp.WSMsgType.ERROR:
        raise HomeAssistantConnectionError(
            f"the connection to {url} failed: {_describe(message.data)}"
        )


def _check_success(message: Mapping[str, Any], command: str) -> None:
    if message.get("success") is True:
        return
    error = message.get("error")
    if isinstance(error, dict):
        detail = f"{error.get('code', '?')}: {error.get('message', '')}"
    else:
        detail = preview(error)
    raise HomeAssistantProtocolError(f"Home Assistant refused {command}: {detail}")


def _describe(exc: object) -> str:
    text = str(exc)
    return text if text else type(exc).__name__


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "<token>") if secret else text
