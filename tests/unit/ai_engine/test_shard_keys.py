"""AI shards: a device's series stay together, and unrelated series spread independently."""

from __future__ import annotations

from sentio.ai_engine.engine import in_shard, shard_key


def test_a_device_is_sharded_whole_by_its_group_labels() -> None:
    labels = {"__name__": "flow", "device": "p1", "run": "x"}
    assert shard_key(labels, ["device"]) == (("device", "p1"),)
    assert shard_key({**labels, "__name__": "pressure"}, ["device"]) == (("device", "p1"),)
    assert shard_key(labels, []) == tuple(sorted(labels.items()))


def test_channels_of_one_device_spread_independently_without_group_by() -> None:
    # CRC-32 is linear: the devices' channel patterns all came out alike (0% or 100% together).
    together = 0
    for d in range(200):
        keys = [shard_key({"__name__": c, "device": f"d{d}", "run": "r"}, []) for c in "abc"]
        together += len({in_shard(k, (0, 2)) for k in keys}) == 1
    assert 20 < together < 90, together  # about a quarter of 200 by chance
