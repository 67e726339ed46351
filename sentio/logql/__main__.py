"""Run the Loki API: ``python -m sentio.logql --port 3100 --victorialogs http://...:9428``."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from sentio.logql.api import serve


def run_until_signal(host: str, port: int, victorialogs: str) -> None:
    """Serve the Loki API until SIGTERM or SIGINT."""

    async def run() -> None:
        task = asyncio.ensure_future(serve(host, port, victorialogs))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(run())


def main() -> None:
    """Parse the command line and serve."""
    ap = argparse.ArgumentParser(prog="python -m sentio.logql", description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=3100)
    ap.add_argument("--victorialogs", default="http://127.0.0.1:9428")
    args = ap.parse_args()
    run_until_signal(args.host, args.port, args.victorialogs)


if __name__ == "__main__":
    main()
