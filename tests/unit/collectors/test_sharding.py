"""Sharding devices among collectors: the stable hash, replication, where the member comes from."""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel
from sentio.collectors.sharding import (
    Shard,
    ShardedConnector,
    ShardError,
    device_key,
    for_replicas,
    parse_shard,
    readings_identity,
    resolve,
    stable_hash,
)
from sentio.connectors.contract import Connector, DeviceSchedule, Event, Reading, Sample
from typer.testing import CliRunner

from sentio.cli import app
from sentio.config import SentioConfig, ShardConfig

KEYS = [device_key("plant", f"pump-{i}") for i in range(1000)]


def test_the_hash_is_pinned_so_devices_never_move_between_releases() -> None:
    assert stable_hash("plant/pump-1") == 0xDC2FA3D3F2EE46B6
    assert Shard(0, 3).members("plant/pump-1") == Shard(2, 3).members("plant/pump-1")


def test_each_device_has_exactly_one_member_and_the_shares_are_even() -> None:
    owners: collections.Counter[int] = collections.Counter()
    for key in KEYS:
        mine = [m for m in range(3) if Shard(m, 3).owns(key)]
        assert len(mine) == 1
        owners[mine[0]] += 1
    assert all(250 < n < 420 for n in owners.values()), owners


def test_replication_puts_each_device_on_r_distinct_members() -> None:
    for key in KEYS[:200]:
        members = Shard(0, 3, 2).members(key)
        assert len(set(members)) == 2
        assert [m for m in range(3) if Shard(m, 3, 2).owns(key)] == sorted(members)
        assert members[0] == Shard(0, 3).members(key)[0]  # the first member as unreplicated


@pytest.mark.parametrize(
    ("shard", "message"),
    [((2, 2), "member 2 is not in 0..1"), ((0, 2, 3), "replication 3 is not in 1..2")],
)
def test_a_shard_outside_its_count_is_refused(shard: tuple[int, ...], message: str) -> None:
    with pytest.raises(ShardError, match=message):
        Shard(*shard)


def test_parse_shard() -> None:
    assert parse_shard(" 1 / 4 ") == (1, 4)
    with pytest.raises(ShardError, match="expected MEMBER/COUNT"):
        parse_shard("1:4")


def test_the_member_comes_from_the_option_the_environment_or_the_pod_name() -> None:
    config = ShardConfig(count=3, replication=2)
    assert resolve("1/2", None, config, {}) == Shard(1, 2, 2)
    assert resolve(None, None, None, {"SENTIO_SHARD": "0/4"}) == Shard(0, 4)
    assert resolve(None, None, config, {"HOSTNAME": "sentio-collector-2"}) == Shard(2, 3, 2)
    pod = {"POD_NAME": "sentio-collector-1", "HOSTNAME": "sentio-collector-2"}
    assert resolve(None, None, config, pod) == Shard(1, 3, 2)
    assert resolve(None, None, config, {"SENTIO_SHARD_MEMBER": "0", **pod}) == Shard(0, 3, 2)
    assert resolve(None, 1, None, {"SENTIO_SHARD_COUNT": "2", **pod}) == Shard(1, 2)
    assert resolve(None, None, ShardConfig(count=2, member=1), pod) == Shard(1, 2)
    assert resolve(None, None, None, {"HOSTNAME": "sentio-collector-2"}) is None


def test_a_sharded_collector_without_a_member_number_says_how_to_give_one() -> None:
    with pytest.raises(ShardError, match="pass --shard i/3"):
        resolve(None, None, ShardConfig(count=3), {"HOSTNAME": "gateway"})
    with pytest.raises(ShardError, match="--replication needs a shard"):
        resolve(None, 2, None, {})
    with pytest.raises(ShardError, match="is not a number"):
        resolve(None, None, None, {"SENTIO_SHARD_COUNT": "two"})


def test_replicas_share_the_readings_identity_and_keep_their_own() -> None:
    config = SentioConfig.model_validate({"service": {"name": "plant", "instance_id": "host"}})
    assert for_replicas(config, None) is config and readings_identity(config, None) == {}
    assert for_replicas(config, Shard(0, 1)) is config
    # each member's own telemetry under its own id, whatever the host or the configured id
    own = {for_replicas(config, Shard(m, 3, 2)).instance_id() for m in range(3)}
    assert own == {"host-0", "host-1", "host-2"}
    pod = SentioConfig.model_validate({"service": {"name": "p", "instance_id": "sentio-c-2"}})
    assert for_replicas(pod, Shard(2, 3)).instance_id() == "sentio-c-2"  # an ordinal already
    # replicated: one identity for every member's readings, so their copies deduplicate
    bare = SentioConfig.model_validate({"service": {"name": "plant"}})
    shared = readings_identity(bare, Shard(1, 3, 2))
    assert shared == {"service.instance.id": "plant-collector", "host.name": "plant-collector"}
    named = SentioConfig.model_validate({"service": {"name": "p", "instance_id": "edge"}})
    assert readings_identity(named, Shard(1, 3, 2))["service.instance.id"] == "edge"
    # sharded without replicas: readings keep the configured identity
    assert readings_identity(config, Shard(1, 2)) == {"service.instance.id": "host"}


class Empty(BaseModel):
    pass


class Fleet(Connector[Empty]):
    """Ten listed devices; ``read`` yields a reading of each and an event of the instance."""

    config_model = Empty
    changes_only = True

    def __init__(self) -> None:
        super().__init__(Empty())

    async def connect(self) -> None:
        pass

    async def read(self) -> AsyncIterator[Sample]:
        for device in self.names():
            yield Reading(device, "t", 1.0, "Cel")
        yield Event("fleet", "connected")

    async def close(self) -> None:
        pass

    def names(self) -> list[str]:
        return [f"d{i}" for i in range(10)]

    def devices(self) -> Sequence[DeviceSchedule]:
        return [DeviceSchedule(name) for name in self.names()]


async def test_a_sharded_connector_polls_and_keeps_only_its_own_devices() -> None:
    shards = [ShardedConnector(Fleet(), "fleet", Shard(m, 2)) for m in range(2)]
    listed = [{d.name for d in s.devices()} for s in shards]
    assert listed[0].isdisjoint(listed[1]) and listed[0] | listed[1] == set(Fleet().names())
    assert all(s.changes_only and not s.push for s in shards)
    for shard, names in zip(shards, listed, strict=True):
        kept = [sample.device async for sample in shard.read()]
        assert set(kept) == names | {"fleet"}


def test_sentio_run_lists_the_devices_a_member_owns(tmp_path: Path) -> None:
    devices = [{"name": f"pump-{u}", "unit_id": u,
                "fields": [{"name": "t", "table": "input", "address": 0, "type": "float32"}]}
               for u in range(1, 21)]  # fmt: skip
    config = {
        "connectors": [
            {"name": "plant", "type": "modbus",
             "config": {"connection": {"host": "127.0.0.1", "port": 1}, "devices": devices}}
        ]
    }  # fmt: skip
    path = tmp_path / "sentio.yaml"
    path.write_text(yaml.safe_dump(config))
    owned = []
    for member in range(2):
        result = CliRunner().invoke(
            app, ["run", "-c", str(path), "--shard", f"{member}/2", "--list-devices"]
        )
        assert result.exit_code == 0, result.output
        assert result.output.startswith(f"shard {member}/2: reading these devices")
        line = result.output.splitlines()[1]
        owned.append(set(line.split(": ", 1)[1].split(", ")))
    assert owned[0].isdisjoint(owned[1])
    assert owned[0] | owned[1] == {f"pump-{u}" for u in range(1, 21)}
    result = CliRunner().invoke(app, ["run", "-c", str(path), "--shard", "2/2", "--list-devices"])
    assert result.exit_code == 1
    assert "member 2 is not in 0..1" in result.output
