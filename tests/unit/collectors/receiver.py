"""A local OTLP/HTTP metrics receiver for the collector's unit tests: counts points, or refuses."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from aiohttp import web
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from tests.conftest import free_port


@dataclass
class Receiver:
    """What the receiver was sent; ``status`` is what it answers."""

    url: str = ""
    status: int = 200
    delay_s: float = 0.0  # a slow backend: each answer waits this long
    requests: int = 0
    points: int = 0
    headers: list[dict[str, str]] = field(default_factory=list)


@asynccontextmanager
async def receiver(status: int = 200) -> AsyncIterator[Receiver]:
    """Serve ``/v1/metrics`` on a free loopback port until the block ends."""
    got = Receiver(status=status)

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        got.requests += 1
        got.headers.append(dict(request.headers))
        if got.delay_s:
            await asyncio.sleep(got.delay_s)
        if got.status >= 300:
            return web.Response(status=got.status, text="refused by the test")
        message = ExportMetricsServiceRequest.FromString(body)
        got.points += sum(
            len(m.gauge.data_points)
            for rm in message.resource_metrics
            for sm in rm.scope_metrics
            for m in sm.metrics
        )
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/metrics", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    got.url = f"http://127.0.0.1:{port}/v1/metrics"
    try:
        yield got
    finally:
        await runner.cleanup()
