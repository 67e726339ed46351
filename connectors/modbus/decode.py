"""Decode Modbus registers and bits into values: pure functions, no I/O."""

from __future__ import annotations

import struct
from collections.abc import Sequence

from .config import FieldConfig, Order

_STRUCT: dict[str, str] = {
    "int16": "h",
    "uint16": "H",
    "int32": "i",
    "uint32": "I",
    "int64": "q",
    "uint64": "Q",
    "float32": "f",
    "float64": "d",
}


def registers_to_bytes(words: Sequence[int], byte_order: Order, word_order: Order) -> bytes:
    """Return the registers as one big-endian byte string, most significant word first."""
    ordered = list(words) if word_order == "big" else list(reversed(words))
    return b"".join(w.to_bytes(2, "big" if byte_order == "big" else "little") for w in ordered)


def decode_number(
    words: Sequence[int], type_: str, byte_order: Order = "big", word_order: Order = "big"
) -> int | float:
    """Decode a numeric type from its registers."""
    fmt = _STRUCT[type_]
    if len(words) * 2 != struct.calcsize(fmt):
        raise ValueError(f"{type_} needs {struct.calcsize(fmt) // 2} registers, got {len(words)}")
    value: int | float = struct.unpack(
        ">" + fmt, registers_to_bytes(words, byte_order, word_order)
    )[0]
    return value


def decode_string(words: Sequence[int], length: int, byte_order: Order = "big") -> str:
    """Decode a string of ``length`` bytes, two per register; trailing NULs and spaces dropped."""
    raw = registers_to_bytes(words, byte_order, "big")[:length]
    return raw.rstrip(b"\x00 ").decode("utf-8", errors="replace")


def decode_bit(word: int, bit: int) -> bool:
    """Return bit ``bit`` (0 is the least significant) of a register."""
    return bool((word >> bit) & 1)


def scaled(value: int | float, scale: float, offset: float) -> float:
    """Return ``value * scale + offset``."""
    return float(value) * scale + offset


def decode_field(
    field: FieldConfig, words: Sequence[int], bits: Sequence[bool]
) -> float | bool | str:
    """Decode one field from the registers (or bits) starting at its address."""
    if field.type == "bool":
        return bool(bits[0])
    if field.type == "bit":
        return decode_bit(words[0], field.bit or 0)
    if field.type == "string":
        return decode_string(words, field.length or 0, field.byte_order)
    raw = decode_number(words[: field.width], field.type, field.byte_order, field.word_order)
    return scaled(raw, field.scale, field.offset)


_STRUCTS: dict[str, struct.Struct] = {}


def _struct(fmt: str) -> struct.Struct:
    """Return the one compiled ``struct.Struct`` of ``fmt``."""
    compiled = _STRUCTS.get(fmt)
    if compiled is None:
        compiled = _STRUCTS[fmt] = struct.Struct(fmt)
    return compiled


class RequestDecoder:
    """Decode every field of one read request at once: the hot path of a poll.

    When every field is a big-endian number and none overlaps the next, the whole response is
    one ``unpack_from`` with pad bytes over the gaps. Otherwise the response is packed into bytes
    once and each big-endian number is one ``unpack_from`` at its offset; other orders, strings
    and bits take ``decode_field``.
    """

    def __init__(self, address: int, fields: Sequence[FieldConfig]) -> None:
        self.steps: list[tuple[FieldConfig, int, struct.Struct | None]] = []
        for field in fields:
            offset = field.address - address
            fast = field.type in _STRUCT and field.byte_order == "big" and field.word_order == "big"
            self.steps.append((field, offset, _struct(">" + _STRUCT[field.type]) if fast else None))
        self.scales = [(f.scale, f.offset) for f in fields]
        self.whole = self._whole()

    def _whole(self) -> struct.Struct | None:
        """Return one struct for the whole response, or None when the fields do not allow it."""
        fmt, at = ">", 0
        for field, offset, packed in self.steps:
            if packed is None or offset < at:
                return None
            fmt += "x" * (2 * (offset - at)) + _STRUCT[field.type]
            at = offset + field.width
        return _struct(fmt)

    def decode(self, words: Sequence[int], bits: Sequence[bool]) -> list[float | bool | str]:
        """Return the values of the request's fields, in order."""
        raw = struct.pack(f">{len(words)}H", *words) if words else b""
        if self.whole is not None and len(raw) >= self.whole.size:
            return [
                v * scale + offset
                for v, (scale, offset) in zip(self.whole.unpack_from(raw), self.scales, strict=True)
            ]
        out: list[float | bool | str] = []
        for field, offset, packed in self.steps:
            if packed is not None:
                out.append(packed.unpack_from(raw, 2 * offset)[0] * field.scale + field.offset)
            else:
                width = field.width
                out.append(
                    decode_field(
                        field, words[offset : offset + width], bits[offset : offset + width]
                    )
                )
        return out
