"""A local stand-in for a Slack incoming webhook: it takes what Slack takes and keeps it.

Slack's incoming webhooks take a JSON object by POST with at least one of ``text``, ``blocks``
or ``attachments``, answer ``ok`` (200, text/plain), and answer 400 with ``invalid_payload``
(not JSON) or ``no_text`` (none of the three). This receiver does the same, so Alertmanager's
Slack integration can be tested, and shown in the demo, without Slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CONTENT_FIELDS = ("text", "blocks", "attachments")


@dataclass(frozen=True)
class Message:
    """One accepted webhook call: when it came and what it said."""

    received_s: float
    body: dict[str, Any]

    def text(self) -> str:
        """Return everything a person would read in it, attachments included, as one string."""
        parts = [str(self.body.get("text", ""))]
        for attachment in self.body.get("attachments") or []:
            parts += [str(attachment.get(k, "")) for k in ("title", "pretext", "text", "fallback")]
            fields = attachment.get("fields") or []
            parts += [f"{f.get('title', '')}: {f.get('value', '')}" for f in fields]
        for block in self.body.get("blocks") or []:
            parts.append(json.dumps(block))
        return "\n".join(p for p in parts if p)


@dataclass
class SlackReceiver:
    """An HTTP server on loopback that accepts Slack incoming-webhook calls."""

    host: str = "127.0.0.1"
    port: int = 0
    path: str = "/services/T000/B000/sentio-local"
    on_message: Callable[[Message], None] | None = None
    messages: list[Message] = field(default_factory=list)
    rejected: int = 0
    _runner: web.AppRunner | None = None
    _arrived: asyncio.Condition | None = None

    @property
    def url(self) -> str:
        """Return the webhook URL to give Alertmanager."""
        return f"http://{self.host}:{self.port}{self.path}"

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            body = json.loads(await request.read())
        except ValueError:
            self.rejected += 1
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict):
            self.rejected += 1
            return web.Response(status=400, text="invalid_payload")
        if not any(body.get(k) for k in CONTENT_FIELDS):
            self.rejected += 1
            return web.Response(status=400, text="no_text")
        message = Message(time.time(), body)
        self.messages.append(message)
        if self.on_message is not None:
            self.on_message(message)
        assert self._arrived is not None
        async with self._arrived:
            self._arrived.notify_all()
        return web.Response(text="ok")

    async def start(self) -> None:
        """Listen; with port 0, on a free port (then ``url`` names it)."""
        self._arrived = asyncio.Condition()
        app = web.Application()
        app.router.add_post(self.path, self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self.port).start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def wait_for(
        self, match: Callable[[Message], bool], timeout_s: float, after: int = 0
    ) -> Message:
        """Return the first message from index ``after`` on that ``match`` accepts."""
        assert self._arrived is not None
        deadline = time.monotonic() + timeout_s
        async with self._arrived:
            while True:
                for message in self.messages[after:]:
                    if match(message):
                        return message
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"no matching Slack message within {timeout_s:.0f}s; "
                        f"{len(self.messages)} received, {self.rejected} rejected"
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
