"""A bounded on-disk spool of export requests a backend did not accept, replayed in order.

Records are appended to segment files (``<n>.seg``): a 4-byte length, a 4-byte CRC32, then
the request. ``cursor`` holds the segment and offset of the oldest record not yet delivered, so
a restart replays what was left, at least once. A record cut short or damaged by a crash is
skipped and counted in ``torn``; a torn tail is cut off when the spool opens, so what is
appended after a crash stays readable. When the spool outgrows its bound, whole oldest
segments are dropped and their records counted. The folder is 0700 and its files 0600.

One thread at a time may use a spool; ``len()``, ``size_bytes`` and the counters may be read
from any thread.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

from sentio.errors import SentioError

HEADER = struct.Struct("<II")
CURSOR = struct.Struct("<QQ")
DIR_MODE = 0o700
FILE_MODE = 0o600


class SpoolError(SentioError):
    """Raise when the spool directory cannot be used."""


class SpoolWriteError(SpoolError):
    """Raise when a record cannot be written (a full disk, a file-size limit); nothing is kept."""

    def __init__(self, message: str, free_bytes: int | None) -> None:
        super().__init__(message)
        self.free_bytes = free_bytes


def free_bytes(path: Path) -> int | None:
    """Return the bytes free to this process on ``path``'s filesystem, None if unknown."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


class Scan(NamedTuple):
    """The intact records found in a segment's bytes, and where they stop."""

    records: list[tuple[int, int]]  # (offset of the payload, its length), in order
    end: int  # offset just after the last intact record
    damaged: bool  # bytes after ``end`` that are not an intact record


def scan(data: bytes, start: int = 0) -> Scan:
    """Return the intact records of ``data`` from ``start`` on, stopping at the first bad one."""
    records: list[tuple[int, int]] = []
    at = max(start, 0)
    while at + HEADER.size <= len(data):
        length, crc = HEADER.unpack_from(data, at)
        body_at = at + HEADER.size
        if body_at + length > len(data) or zlib.crc32(data[body_at : body_at + length]) != crc:
            return Scan(records, at, True)
        records.append((body_at, length))
        at = body_at + length
    return Scan(records, at, at < len(data))


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
        self.torn = 0
        self.size_bytes = 0
        self.cursor_failures = 0
        self.dropped_readings = 0
        self._sizes: dict[int, int] = {}
        self._next = 0  # the segment a new record goes to when the spool holds none
        self._pending: collections.deque[tuple[int, int, int]] = collections.deque()
        self._readings: collections.deque[int] = collections.deque()  # per pending record
        try:
            path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            path.chmod(DIR_MODE)
            self._open()
        except OSError as exc:
            raise SpoolError(f"cannot use the spool directory {path}: {exc.strerror}") from exc

    def _file(self, segment: int) -> Path:
        return self.path / f"{segment:016d}.seg"

    def _open(self) -> None:
        """Index the records left from the last run; cut a torn tail off the last segment."""
        segments = sorted(int(p.stem) for p in self.path.glob("*.seg") if p.stem.isdigit())
        head, offset = self._read_cursor(segments)
        for segment in segments:
            file = self._file(segment)
            if segment < head:
                file.unlink()
                continue
            data = file.read_bytes()
            found = scan(data, offset if segment == head else 0)
            if found.damaged:
                self.torn += 1
                if segment == segments[-1]:
                    os.truncate(file, found.end)
                    data = data[: found.end]
            file.chmod(FILE_MODE)
            self._sizes[segment] = len(data)
            self.size_bytes += len(data)
            self._pending.extend((segment, at, length) for at, length in found.records)
            self._readings.extend(0 for _ in found.records)  # not known across a restart
        self._next = max([head, *(segment + 1 for segment in segments)])

    def _read_cursor(self, segments: list[int]) -> tuple[int, int]:
        try:
            segment, offset = CURSOR.unpack((self.path / "cursor").read_bytes())
        except (OSError, struct.error):
            return (segments[0] if segments else 0), 0
        return segment, offset

    def _write_cursor(self, segment: int, offset: int) -> None:
        """Move the cursor; one that cannot be written (a full disk) only replays more later."""
        tmp = self.path / "cursor.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                fh.write(CURSOR.pack(segment, offset))
            tmp.replace(self.path / "cursor")
        except OSError:
            self.cursor_failures += 1
            with contextlib.suppress(OSError):
                tmp.unlink()

    def append(self, body: bytes, readings: int = 0) -> None:
        """Add a request (of ``readings`` readings) at the tail; drop the oldest past the bound.

        A write that fails or is cut short leaves the segment as it was and raises
        ``SpoolWriteError``: the caller still holds the request.
        """
        tail = max(self._sizes, default=self._next)
        if self._sizes.get(tail, 0) >= self.segment_bytes:
            tail += 1
        offset = self._sizes.get(tail, 0)
        record = HEADER.pack(len(body), zlib.crc32(body)) + body
        try:
            fd = os.open(self._file(tail), os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            try:
                try:
                    written = os.write(fd, record)
                    if written != len(record):
                        raise OSError(errno.ENOSPC, f"wrote {written} of {len(record)} bytes")
                    if self.fsync:
                        os.fsync(fd)
                except OSError:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, offset)  # no torn record behind
                    raise
            finally:
                os.close(fd)
        except OSError as exc:
            if not offset:
                with contextlib.suppress(OSError):
                    self._file(tail).unlink()
            raise SpoolWriteError(
                f"cannot write to the spool {self.path}: {exc.strerror or exc}",
                free_bytes(self.path),
            ) from exc
        self._sizes[tail] = offset + len(record)
        self.size_bytes += len(record)
        self._pending.append((tail, offset + HEADER.size, len(body)))
        self._readings.append(readings)
        while self.size_bytes > self.max_bytes and len(self._sizes) > 1:
            self._drop_segment(min(self._sizes))

    def _drop_segment(self, segment: int) -> None:
        while self._pending and self._pending[0][0] == segment:
            self._pending.popleft()
            self.dropped += 1
            self.dropped_readings += self._readings.popleft()
        with contextlib.suppress(FileNotFoundError):
            self._file(segment).unlink()
        self.size_bytes -= self._sizes.pop(segment)
        if self._pending:
            self._write_cursor(self._pending[0][0], self._pending[0][1] - HEADER.size)

    def peek(self) -> bytes | None:
        """Return the oldest undelivered request, or None when the spool is empty."""
        while self._pending:
            segment, at, length = self._pending[0]
            try:
                with self._file(segment).open("rb") as fh:
                    fh.seek(at - HEADER.size)
                    data = fh.read(HEADER.size + length)
            except FileNotFoundError:
                data = b""
            found = scan(data)
            if found.records:
                return data[HEADER.size :]
            self.torn += 1  # changed on disk since it was indexed
            self._pending.popleft()
            self.dropped_readings += self._readings.popleft()
        return None

    def ack(self) -> int:
        """Mark the request ``peek`` returned as delivered; return its readings (0: unknown)."""
        if not self._pending:
            return 0
        segment, at, length = self._pending.popleft()
        readings = self._readings.popleft()
        self.replayed += 1
        following = self._pending[0][0] if self._pending else None
        if following is None:
            self._empty(segment)
            return readings
        if following != segment and segment != max(self._sizes):
            with contextlib.suppress(FileNotFoundError):
                self._file(segment).unlink()
            self.size_bytes -= self._sizes.pop(segment, 0)
        if following is not None and following != segment:
            self._write_cursor(following, 0)
        else:
            self._write_cursor(segment, at + length)
        return readings

    def _empty(self, last: int) -> None:
        """Delete every segment once all is delivered, so a full disk gets its space back."""
        for segment in list(self._sizes):
            with contextlib.suppress(FileNotFoundError):
                self._file(segment).unlink()
        self._sizes.clear()
        self.size_bytes = 0
        self._next = last + 1
        self._write_cursor(self._next, 0)

    def __len__(self) -> int:
        return len(self._pending)
