"""Shard arithmetic shared by the collector and the AI engine: one parser, one stable hash.

Errors: ``ShardError`` (a ``ConfigError``) for a malformed ``i/n``.
"""

from __future__ import annotations

import hashlib
import re

from sentio.errors import ConfigError

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class ShardError(ConfigError):
    """Raise when a shard is malformed or names no member of its count."""


def stable_hash(key: str) -> int:
    """Return a 64-bit hash of ``key`` that is the same in every process and on every host.

    A 64-bit BLAKE2b, not CRC-32: CRC is linear, so keys that differ in one label value shift
    alike and whole patterns of keys landed together.
    """
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def parse_shard(text: str) -> tuple[int, int]:
    """Parse ``i/n`` into (member, count)."""
    match = SHARD.match(text)
    if not match:
        raise ShardError(f"--shard {text!r}: expected MEMBER/COUNT, e.g. 0/2")
    return int(match[1]), int(match[2])


def in_shard(key: str, member: int, count: int) -> bool:
    """Return whether ``key`` hashes to ``member`` of ``count``."""
    return stable_hash(key) % count == member
