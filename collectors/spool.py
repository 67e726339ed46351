"""A bounded on-disk spool of export requests a backend did not accept, replayed in order.

Records are appended to segment files (``<n>.seg``): a 4-byte length, a 4-byte CRC32, then
the request. ``cursor`` holds the segment and offset of the oldest record not yet delivered, so
a restart replays what was left, at least once. When the spool outgrows its bound, whole oldest
segments are dropped and their records counted.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

from sentio.errors import SentioError

HEADER = struct.Struct("<II")
CURSOR = struct.Struct("<QQ")


class SpoolError(SentioError):
    """Raise when the spool directory cannot be used."""


class Spool:
    """Append at the tail, read and acknowledge at the head."""

    def __init__(
        self, path: Path, max_bytes: int, segment_bytes: int = 4 << 20, fsync: bool = True
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.segment_bytes = min(segment_bytes, max(max_bytes // 4, 1 << 16))
        self.fsync = fsync
        self.dropped = 0
        self.replayed = 0
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create the spool directory {path}: {exc.strerror}") from exc
        self.head_segment, self.head_offset = self._read_cursor()
        self.records = sum(self._count(n) for n in self._segments())

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.path.glob("*.seg") if p.stem.isdigit())

    def _file(self, segment: int) -> Path:
        return self.path / f"{segment:016d}.seg"

    def _read_cursor(self) -> tuple[int, int]:
        try:
            segment, offset = CURSOR.unpack((self.path / "cursor").read_bytes())
        except (OSError, struct.error):
            segments = self._segments()
            return (segments[0] if segments else 0), 0
        return segment, offset

    def _write_cursor(self) -> None:
        tmp = self.path / "cursor.tmp"
        tmp.write_bytes(CURSOR.pack(self.head_segment, self.head_offset))
        tmp.replace(self.path / "cursor")

    def _count(self, segment: int) -> int:
        start = self.head_offset if segment == self.head_segment else 0
        if segment < self.head_segment:
            return 0
        count = 0
        for _ in self._iter(segment, start):
            count += 1
        return count

    def _iter(self, segment: int, offset: int) -> list[tuple[int, bytes]]:
        """Return (end offset, payload) of each intact record from ``offset`` on."""
        try:
            with self._file(segment).open("rb") as fh:
                fh.seek(offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        out = []
        at = 0
        while at + HEADER.size <= len(data):
            length, crc = HEADER.unpack_from(data, at)
            body = data[at + HEADER.size : at + HEADER.size + length]
            if len(body) < length or zlib.crc32(body) != crc:
                break  # a torn write at a crash: everything after it is lost
            at += HEADER.size + length
            out.append((offset + at, body))
        return out

    @property
    def size_bytes(self) -> int:
        """Return the spool's size on disk."""
        return sum(self._file(n).stat().st_size for n in self._segments())

    def append(self, body: bytes) -> None:
        """Add a request at the tail; drop the oldest segments past the bound."""
        segments = self._segments()
        tail = segments[-1] if segments else self.head_segment
        if segments and self._file(tail).stat().st_size >= self.segment_bytes:
            tail += 1
        with self._file(tail).open("ab") as fh:
            fh.write(HEADER.pack(len(body), zlib.crc32(body)) + body)
            fh.flush()
            if self.fsync:
                os.fsync(fh.fileno())
        self.records += 1
        while self.size_bytes > self.max_bytes and len(self._segments()) > 1:
            oldest = self._segments()[0]
            lost = self._count(oldest)
            self._file(oldest).unlink()
            self.dropped += lost
            self.records -= lost
            self.head_segment, self.head_offset = self._segments()[0], 0
            self._write_cursor()

    def _first(self, segment: int, offset: int) -> tuple[int, bytes] | None:
        """Return (end offset, payload) of the intact record at ``offset``, reading only it."""
        try:
            with self._file(segment).open("rb") as fh:
                fh.seek(offset)
                header = fh.read(HEADER.size)
                if len(header) < HEADER.size:
                    return None
                length, crc = HEADER.unpack(header)
                body = fh.read(length)
        except FileNotFoundError:
            return None
        if len(body) < length or zlib.crc32(body) != crc:
            return None
        return offset + HEADER.size + length, body

    def peek(self) -> bytes | None:
        """Return the oldest undelivered request, or None when the spool is empty."""
        for segment in self._segments():
            if segment < self.head_segment:
                continue
            start = self.head_offset if segment == self.head_segment else 0
            record = self._first(segment, start)
            if record:
                if segment != self.head_segment:
                    self.head_segment, self.head_offset = segment, 0
                return record[1]
        return None

    def ack(self) -> None:
        """Mark the request ``peek`` returned as delivered."""
        record = self._first(self.head_segment, self.head_offset)
        if record is None:
            return
        self.head_offset = record[0]
        self.records -= 1
        self.replayed += 1
        if self._first(self.head_segment, self.head_offset) is None:
            later = [n for n in self._segments() if n > self.head_segment]
            if later:
                self._file(self.head_segment).unlink()
                self.head_segment, self.head_offset = later[0], 0
        self._write_cursor()

    def __len__(self) -> int:
        return self.records
