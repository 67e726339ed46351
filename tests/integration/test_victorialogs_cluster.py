"""VictoriaLogs in cluster mode on this host: two storage nodes behind one insert/select front."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
import yaml
from typer.testing import CliRunner

from sentio.cli import app
from sentio.config import SentioConfig
from sentio.stack.backends import backends
from sentio.stack.install import install
from sentio.stack.probe import poll
from sentio.stack.supervisor import Stack
from sentio.stack.versions import load_versions
from tests.conftest import free_ports, stack_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]
RECORDS = 1000
STREAMS = 8
NODES = ("victorialogs-storage-0", "victorialogs-storage-1")


def cluster_config(data_dir: Path) -> SentioConfig:
    """Return a stack config whose VictoriaLogs is a two-node cluster on free loopback ports."""
    data = stack_config(data_dir).model_dump(mode="json")
    front, *storage = free_ports(3)
    data["stack"]["victorialogs"] = {
        "port": front,
        "cluster": {"storage_nodes": 2, "storage_ports": storage},
    }
    return SentioConfig.model_validate(data)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SentioConfig, Stack]]:
    """Start the VictoriaLogs cluster (storage nodes, then the front); stop it after."""
    config = cluster_config(tmp_path_factory.mktemp("vlcluster"))
    single = {"victorialogs": backends(load_versions())["victorialogs"]}
    install(single.values(), None, lambda _m: None)
    stack = Stack(config.stack, single)
    asyncio.run(stack.up(lambda _m: None))
    try:
        yield config, stack
    finally:
        asyncio.run(stack.down(progress=lambda _m: None))


def node_url(config: SentioConfig, index: int) -> str:
    """Return the base URL of storage node ``index``."""
    return f"http://{config.stack.host}:{config.stack.victorialogs.storage_port(index)}"


async def send(session: aiohttp.ClientSession, base: str, run: str, first: int, n: int) -> None:
    """Send ``n`` records of run ``run`` as JSON lines, spread over STREAMS streams."""
    now = time.time()
    body = "\n".join(
        json.dumps({"_msg": f"record {i}", "_time": f"{now:.3f}", "run": run, "seq": i,
                    "device": f"dev-{i % STREAMS}"})
        for i in range(first, first + n)
    )  # fmt: skip
    params = {"_stream_fields": "device", "_time_field": "_time"}
    async with session.post(f"{base}/insert/jsonline", params=params, data=body) as resp:
        assert resp.status == 200, await resp.text()


async def count(
    session: aiohttp.ClientSession, base: str, run: str, **params: str
) -> tuple[int, str]:
    """Return (HTTP status, the run's record count or the error body) from ``base``."""
    query = {"query": f"_time:1h run:{run} | stats count() as n", **params}
    async with session.get(f"{base}/select/logsql/query", params=query) as resp:
        text = await resp.text()
        if resp.status != 200:
            return resp.status, text
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
        return 200, str(int(rows[0]["n"])) if rows else "0"


async def settled(session: aiohttp.ClientSession, base: str, run: str, want: int) -> int:
    """Poll until ``base`` counts ``want`` records of ``run``; return the count."""

    async def check() -> int | None:
        status, body = await count(session, base, run, allow_partial_response="1")
        return want if status == 200 and int(body) == want else None

    return await poll(check, 30, f"{want} records of {run} at {base}", interval_s=0.25)


async def test_records_sent_through_the_front_are_all_found_through_it(
    cluster: tuple[SentioConfig, Stack],
) -> None:
    config, stack = cluster
    assert list(stack.backends) == [*NODES, "victorialogs"]
    front = config.stack.url("victorialogs")
    run = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        await send(session, front, run, 0, RECORDS)
        assert await settled(session, front, run, RECORDS) == RECORDS
        status, body = await count(session, front, run)
        assert (status, body) == (200, str(RECORDS))
        on_nodes = [int((await count(session, node_url(config, i), run))[1]) for i in (0, 1)]
    assert sum(on_nodes) == RECORDS
    assert all(on_nodes), f"the front used one storage node only: {on_nodes}"
    names = {s.name: s.healthy for s in await stack.status()}
    assert names == {**dict.fromkeys(NODES, True), "victorialogs": True}


async def test_a_stopped_storage_node_is_reported_and_the_other_stays_queryable(
    cluster: tuple[SentioConfig, Stack],
) -> None:
    config, stack = cluster
    front = config.stack.url("victorialogs")
    run = uuid.uuid4().hex
    async with aiohttp.ClientSession() as session:
        await send(session, front, run, 0, RECORDS)
        await settled(session, front, run, RECORDS)
        survivor = int((await count(session, node_url(config, 0), run))[1])
        await stack.down([NODES[1]], progress=lambda _m: None)
        try:
            status, body = await count(session, front, run)
            assert status == 502, body
            assert f"{config.stack.host}:{config.stack.victorialogs.storage_port(1)}" in body
            status, body = await count(session, front, run, allow_partial_response="1")
            assert (status, int(body)) == (200, survivor)
            # While the node is away the front re-routes new records to the one that is up.
            await send(session, front, run, RECORDS, 200)
            assert await settled(session, front, run, survivor + 200) == survivor + 200
            states = {s.name: s for s in await stack.status()}
            assert not states[NODES[1]].running and not states[NODES[1]].healthy
            assert states[NODES[0]].healthy and states["victorialogs"].healthy
        finally:
            await stack.up(lambda _m: None)
        assert await settled(session, front, run, RECORDS + 200) == RECORDS + 200
        assert await count(session, front, run) == (200, str(RECORDS + 200))


def test_stack_logs_shows_a_storage_node_by_name(
    cluster: tuple[SentioConfig, Stack], tmp_path: Path
) -> None:
    config, _stack = cluster
    path = tmp_path / "sentio.yaml"
    path.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    result = CliRunner().invoke(app, ["stack", "logs", NODES[0], "-c", str(path)])
    assert result.exit_code == 0, result.output
    assert f"sentio: starting {NODES[0]}" in result.output
    unknown = CliRunner().invoke(app, ["stack", "logs", "victorialogs-storage-9", "-c", str(path)])
    assert unknown.exit_code == 2
    assert "known: victoriametrics" in unknown.output and NODES[1] in unknown.output
