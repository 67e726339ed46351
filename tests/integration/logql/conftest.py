"""A real VictoriaLogs holding the known records, and the Loki API in front of it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from sentio.logql.victorialogs import parse_rfc3339_ns
from sentio.stack.backends import backends
from sentio.stack.install import install
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from tests.conftest import free_port, stack_config
from tests.integration.logql.dataset import COUNT, Rec, aligned_base, make_records, otlp_request


@dataclass(frozen=True)
class LogqlEnv:
    """Where the Loki API and VictoriaLogs listen, and what VictoriaLogs holds."""

    api: str
    vl: str
    records: list[Rec]
    base_s: int

    @property
    def start_ns(self) -> int:
        """Return a start before every record."""
        return self.base_s * 1_000_000_000

    @property
    def end_ns(self) -> int:
        """Return an end after every record, on a whole minute."""
        return (self.base_s + 20 * 60) * 1_000_000_000


def wait_http(url: str, timeout_s: float = 30.0) -> None:
    """Poll ``url`` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer 200 within {timeout_s}s")
        time.sleep(0.1)


def send_otlp(vl: str, records: list[Rec]) -> None:
    """POST the records to VictoriaLogs' OTLP/HTTP logs endpoint."""
    resp = requests.post(
        f"{vl}/insert/opentelemetry/v1/logs",
        data=otlp_request(records),
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text


def count_in_vl(vl: str, query: str) -> int:
    """Return how many records VictoriaLogs finds for a LogsQL query."""
    resp = requests.post(
        f"{vl}/select/logsql/query", data={"query": f"{query} | stats count() as n"}, timeout=10
    )
    resp.raise_for_status()
    lines = [line for line in resp.text.splitlines() if line.strip()]
    return int(json.loads(lines[0])["n"]) if lines else 0


def newest_in_vl(vl: str) -> int | None:
    """Return the time of the newest record VictoriaLogs returns as a row, if any."""
    query = "* | sort by (_time desc) | limit 1"
    resp = requests.post(f"{vl}/select/logsql/query", data={"query": query}, timeout=10)
    resp.raise_for_status()
    lines = [line for line in resp.text.splitlines() if line.strip()]
    return parse_rfc3339_ns(json.loads(lines[0])["_time"]) if lines else None


@pytest.fixture(scope="session")
def logql_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogqlEnv]:
    """Start VictoriaLogs and the Loki API, send the known records over OTLP, wait for them."""
    config = stack_config(tmp_path_factory.mktemp("logql"))
    single = {"victorialogs": backends(load_versions())["victorialogs"]}
    install(single.values(), None, lambda _m: None)
    stack = Stack(config.stack, single)
    asyncio.run(stack.up(lambda _m: None))
    vl = config.stack.url("victorialogs")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sentio.logql", "--port", str(port), "--victorialogs", vl],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        api = f"http://127.0.0.1:{port}"
        wait_http(f"{api}/ready")
        base = aligned_base()
        records = make_records(base)
        send_otlp(vl, records)
        deadline = time.monotonic() + 30
        newest = max(r.time_ns for r in records)
        # stats count fresh records a second or so before sort|limit queries return them
        while count_in_vl(vl, '"service.name":~"plant-.*"') < COUNT or newest_in_vl(vl) != newest:
            assert time.monotonic() < deadline, "VictoriaLogs did not show the records in 30 s"
            time.sleep(0.1)
        yield LogqlEnv(api, vl, records, base)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        asyncio.run(stack.down(progress=lambda _m: None))
