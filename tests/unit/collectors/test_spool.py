from __future__ import annotations

from pathlib import Path

from sentio.collectors.spool import HEADER, Spool


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


def test_a_torn_last_record_is_skipped_counted_and_appends_after_it_are_read(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20)
    spool.append(b"first")
    spool.append(b"second")
    segment = next(tmp_path.glob("*.seg"))
    with segment.open("ab") as fh:
        fh.write(HEADER.pack(100, 0) + b"only ten b")  # a record cut short by a kill
    reopened = Spool(tmp_path, max_bytes=1 << 20)
    assert reopened.torn == 1
    assert len(reopened) == 2
    reopened.append(b"after the crash")
    again = Spool(tmp_path, max_bytes=1 << 20)
    assert again.torn == 0, "the torn tail was cut off when the spool opened"
    assert drain(again) == [b"first", b"second", b"after the crash"]


def test_a_damaged_record_in_an_older_segment_is_counted_and_the_rest_replays(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 30, segment_bytes=40, fsync=False)
    for i in range(6):
        spool.append(bytes([65 + i]) * 16)
    first = sorted(tmp_path.glob("*.seg"))[0]
    data = bytearray(first.read_bytes())
    data[10] ^= 0xFF  # flip a byte in the first record's payload
    first.write_bytes(bytes(data))
    reopened = Spool(tmp_path, max_bytes=1 << 30, segment_bytes=40, fsync=False)
    assert reopened.torn == 1
    bodies = drain(reopened)
    assert bodies == [bytes([65 + i]) * 16 for i in range(2, 6)]


def test_the_folder_and_its_files_are_private(tmp_path: Path) -> None:
    folder = tmp_path / "spool"
    spool = Spool(folder, max_bytes=1 << 20)
    spool.append(b"x")
    spool.peek()
    spool.ack()
    assert folder.stat().st_mode & 0o777 == 0o700
    for file in folder.iterdir():
        assert file.stat().st_mode & 0o777 == 0o600, file
