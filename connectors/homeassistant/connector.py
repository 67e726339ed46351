"""The built-in Home Assistant connector: entity states over the WebSocket API, REST as fallback.

After authenticating it subscribes to ``state_changed`` and then reads every state with
``get_states``, so nothing changed between the two is missed; it does both again after every
reconnect. With ``transport: rest``, or when the server answers HTTP but refuses the WebSocket
upgrade (a reverse proxy that drops ``Upgrade`` headers), it polls ``GET /api/states`` every
``poll_interval_s`` instead, and retries the WebSocket every ``websocket_retry_s``.

How a state becomes samples (device = entity id; attributes ``entity_id``, ``domain``, and
``friendly_name`` and ``device_class`` when set):

- a number: a Reading with quality GOOD. Metric: the entity's ``device_class`` (``temperature``,
  ``power``; so one PromQL name covers every such sensor, told apart by ``device``), else its
  object id (``sensor.cpu_load`` → ``cpu_load``); ``metric: object_id`` always uses the object
  id; ``metrics`` overrides per entity. Unit: ``unit_of_measurement`` mapped to UCUM
  (``units.py``; ``units`` adds or overrides), unknown units unchanged, none → ``1``.
- any other string (``on``, ``off``, ``heat``): a Reading of metric ``state`` whose value is the
  string, and an INFO Event ``light.kitchen: off -> on`` on every change, because the collector
  does not export string values as metrics.
- ``unavailable`` / ``unknown``: a Reading of quality BAD / UNCERTAIN, valued NaN in the metric
  and unit the entity had if it is numeric (it has a unit or state class, or had a number
  before), else the string; the change is an Event (WARN into ``unavailable``, INFO otherwise).
  The device stays up: Home Assistant answered, it is the entity that is unavailable.
- ``nan``, ``inf`` or an out-of-range number on a numeric entity: a WARN Event, no reading.

Timestamps are the state's ``last_reported``, else ``last_updated``. Home Assistant only reports
changes, so the connector sets ``changes_only``: the collector sends an unchanged value again
every ``report.heartbeat_s`` of the entry, stamped when sent, so that PromQL's lookback always
finds the current value, until the entity is removed (an Event with ``gone``). Bad input (a frame
that is not JSON, a malformed event or state) is a WARN Event naming the problem, and the stream
goes on.

``read`` raises a ``HomeAssistantError`` (tree in ``api.py``) when the connection is lost or the
token is rejected; the runtime calls ``connect`` again after a backoff. ``close`` ends ``read``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator

import aiohttp
from sentio.connectors.contract import Connector, Event, Sample, Severity

from .api import (
    Change,
    HomeAssistantConnectionError,
    HomeAssistantError,
    Item,
    Malformed,
    RestApi,
    Snapshot,
    WebSocketApi,
    WebSocketUnavailable,
)
from .config import HomeAssistantConfig
from .states import StateTracker


def _closed_under(exc: BaseException) -> bool:
    """Return whether ``exc`` is what a session closed under a request raises."""
    return isinstance(exc, Exception) and not isinstance(exc, HomeAssistantError)


class HomeAssistantConnector(Connector[HomeAssistantConfig]):
    """Yield readings and events from Home Assistant's entity states as they change."""

    config_model = HomeAssistantConfig
    changes_only = True
    push = True

    def __init__(self, config: HomeAssistantConfig) -> None:
        super().__init__(config)
        self.tracker = StateTracker(config)
        self._http: aiohttp.ClientSession | None = None
        self._ws: WebSocketApi | None = None
        self._rest: RestApi | None = None
        self._pending: list[Sample] = []
        self._full_poll = True
        self._retry_ws_at = 0.0
        self._closing = asyncio.Event()

    @property
    def transport(self) -> str | None:
        """Return ``websocket`` or ``rest`` while connected, else None."""
        if self._ws is not None:
            return "websocket"
        return "rest" if self._rest is not None else None

    async def connect(self) -> None:
        """Authenticate and read every state; raise HomeAssistantError if that fails."""
        await self._drop()
        self._closing.clear()
        self._http = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.config.timeout_s),
            connector=aiohttp.TCPConnector(ssl=self.config.verify_tls),
        )
        try:
            await self._open(self._http)
        except BaseException as exc:
            await self._drop()
            if _closed_under(exc) and self._closing.is_set():
                raise HomeAssistantConnectionError("closed while connecting") from exc
            raise
        if self._closing.is_set():
            await self._drop()
            raise HomeAssistantConnectionError("closed while connecting")

    async def _open(self, http: aiohttp.ClientSession) -> None:
        if self.config.transport == "rest":
            await self._use_rest(http, None)
            return
        try:
            await self._use_websocket(http)
        except WebSocketUnavailable as exc:
            await self._use_rest(http, exc)

    async def read(self) -> AsyncGenerator[Sample, None]:
        """Yield samples as states change until ``close``; raise when the connection is lost."""
        if self._closing.is_set():
            return
        if self.transport is None:
            await self.connect()
        try:
            while not self._closing.is_set():
                pending, self._pending = self._pending, []
                for sample in pending:
                    yield sample
                if self._ws is not None:
                    items = await self._ws.receive(None)
                else:
                    items = await self._poll()
                for sample in self._samples(items):
                    yield sample
        except HomeAssistantError:
            if self._closing.is_set():
                return
            await self._drop()
            raise

    async def close(self) -> None:
        """Stop ``read`` and close the connection; safe to call twice."""
        self._closing.set()
        await self._drop()

    async def _use_websocket(self, http: aiohttp.ClientSession) -> None:
        ws = WebSocketApi(self.config, http)
        items = await ws.open()
        self._ws, self._rest = ws, None
        self._pending.extend(self._samples(items))

    async def _use_rest(
        self, http: aiohttp.ClientSession, reason: WebSocketUnavailable | None
    ) -> None:
        rest = RestApi(self.config, http)
        await rest.check()
        self._rest, self._full_poll = rest, True
        if reason is not None:
            self._retry_ws_at = time.monotonic() + self.config.websocket_retry_s
            self._pending.append(
                self._event(
                    f"WebSocket API unavailable ({reason}); polling GET /api/states every "
                    f"{self.config.poll_interval_s:g} s",
                    Severity.WARN,
                )
            )

    async def _poll(self) -> list[Item]:
        """Read every state over REST, after the interval unless it is the first poll."""
        if not self._full_poll:
            await self._pause(self.config.poll_interval_s)
            if self.config.transport == "websocket" and time.monotonic() >= self._retry_ws_at:
                await self._retry_websocket()
            if self._closing.is_set() or self._ws is not None:
                return []
        rest = self._rest
        if rest is None:
            raise HomeAssistantConnectionError("not connected")
        return [await rest.states()]

    async def _retry_websocket(self) -> None:
        http = self._http
        if http is None or self._closing.is_set():
            return
        try:
            await self._use_websocket(http)
        except HomeAssistantError:
            self._retry_ws_at = time.monotonic() + self.config.websocket_retry_s
            return
        self._pending.append(self._event("WebSocket API available again; stopped polling"))

    def _samples(self, items: list[Item]) -> list[Sample]:
        samples: list[Sample] = []
        for item in items:
            if isinstance(item, Snapshot):
                full = self._ws is not None or self._full_poll
                self._full_poll = False
                samples.extend(self.tracker.snapshot(item.states, full=full))
            elif isinstance(item, Change):
                samples.extend(self.tracker.changed(item.data))
            elif isinstance(item, Malformed):
                samples.append(self.tracker.warning(item.problem))
        return samples

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    async def _drop(self) -> None:
        ws, self._ws = self._ws, None
        self._rest = None
        http, self._http = self._http, None
        if ws is not None:
            await ws.close()
        if http is not None:
            await http.close()

    def _event(self, body: str, severity: Severity = Severity.INFO) -> Event:
        label = self.config.label
        return Event(
            device=label,
            body=f"Home Assistant at {label}: {body}",
            severity=severity,
            attributes={"server": label},
        )
