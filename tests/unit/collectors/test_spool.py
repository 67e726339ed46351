from __future__ import annotations

from pathlib import Path

from sentio.collectors.spool import Spool


def drain(spool: Spool) -> list[bytes]:
    out = []
    while (body := spool.peek()) is not None:
        out.append(body)
        spool.ack()
    return out


def test_records_come_back_in_order_across_segments(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 30, segment_bytes=100, fsync=False)
    bodies = [f"request-{i:03d}".encode() * 3 for i in range(20)]
    for body in bodies:
        spool.append(body)
    assert len(spool) == 20
    assert len(list(tmp_path.glob("*.seg"))) > 1
    assert drain(spool) == bodies
    assert len(spool) == 0 and spool.replayed == 20 and spool.peek() is None


def test_a_restart_resumes_after_the_last_acknowledged_record(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 30, segment_bytes=64)
    for i in range(10):
        spool.append(bytes([i]) * 10)
    for _ in range(4):
        spool.peek()
        spool.ack()
    reopened = Spool(tmp_path, max_bytes=1 << 30, segment_bytes=64)
    assert len(reopened) == 6
    assert drain(reopened) == [bytes([i]) * 10 for i in range(4, 10)]


def test_the_bound_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 16, segment_bytes=1 << 14, fsync=False)
    body = b"x" * 1000
    for i in range(200):
        spool.append(i.to_bytes(4, "big") + body)
    assert spool.size_bytes <= (1 << 16) + (1 << 14)
    assert spool.dropped > 0 and spool.dropped + len(spool) == 200
    kept = drain(spool)
    first = int.from_bytes(kept[0][:4], "big")
    assert first == spool.dropped
    assert [int.from_bytes(k[:4], "big") for k in kept] == list(range(first, 200))


def test_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(b"complete")
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("ab") as fh:
        fh.write(b"\x10\x00\x00\x00\x00\x00")  # a header cut short by a crash
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert drain(reopened) == [b"complete"]
