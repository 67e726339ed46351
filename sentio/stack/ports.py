"""Free loopback ports for a whole stack, for tests and benchmarks that run their own."""

from __future__ import annotations

import contextlib
import socket
from typing import Any


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Return ``count`` distinct TCP ports free on ``host`` now."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:
            sock.bind((host, 0))
        return [int(s.getsockname()[1]) for s in socks]


def free_stack_ports() -> dict[str, Any]:
    """Return a `stack:` section whose every backend listens on a free loopback port."""
    p = free_ports(12)
    return {
        "victoriametrics": {"port": p[0]},
        "victorialogs": {"port": p[1]},
        "jaeger": {
            "query_port": p[2],
            "query_grpc_port": p[3],
            "otlp_http_port": p[4],
            "otlp_grpc_port": p[5],
            "health_port": p[6],
            "metrics_port": p[7],
        },
        "vmalert": {"port": p[8], "logs_port": p[9]},
        "alertmanager": {"port": p[10]},
        "loki_api": {"port": p[11]},
    }
