from __future__ import annotations

import struct

import pytest
from sentio.connectors.modbus.config import FieldConfig
from sentio.connectors.modbus.decode import (
    RequestDecoder,
    decode_bit,
    decode_field,
    decode_number,
    decode_string,
    registers_to_bytes,
)

# 12.5 as float32 is 0x41480000: words 0x4148, 0x0000.
FLOAT_12_5 = [
    ("big", "big", [0x4148, 0x0000]),
    ("big", "little", [0x0000, 0x4148]),
    ("little", "big", [0x4841, 0x0000]),
    ("little", "little", [0x0000, 0x4841]),
]


@pytest.mark.parametrize(("byte_order", "word_order", "words"), FLOAT_12_5)
def test_float32_12_5_in_every_order(byte_order: str, word_order: str, words: list[int]) -> None:
    assert decode_number(words, "float32", byte_order, word_order) == 12.5  # type: ignore[arg-type]


def test_registers_to_bytes_normalises_to_big_endian() -> None:
    assert registers_to_bytes([0x0102, 0x0304], "big", "big") == b"\x01\x02\x03\x04"
    assert registers_to_bytes([0x0102, 0x0304], "big", "little") == b"\x03\x04\x01\x02"
    assert registers_to_bytes([0x0102, 0x0304], "little", "big") == b"\x02\x01\x04\x03"
    assert registers_to_bytes([0x0102, 0x0304], "little", "little") == b"\x04\x03\x02\x01"


def test_int32_negative() -> None:
    assert decode_number([0xFFFF, 0xFFFE], "int32") == -2
    assert decode_number([0xFFFE, 0xFFFF], "int32", word_order="little") == -2
    assert decode_number([0xFFFF, 0xFFFE], "uint32") == 0xFFFFFFFE


def test_16_bit_types() -> None:
    assert decode_number([0xFF38], "int16") == -200
    assert decode_number([0xFF38], "uint16") == 0xFF38
    assert decode_number([0x38FF], "int16", byte_order="little") == -200


def test_64_bit_types() -> None:
    assert decode_number([0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF], "int64") == -1
    assert decode_number([0, 0, 0x0001, 0x0000], "uint64") == 0x10000
    assert decode_number([0x0000, 0x0001, 0, 0], "uint64", word_order="little") == 0x10000
    words = list(struct.unpack(">4H", struct.pack(">d", -1234.5678)))
    assert decode_number(words, "float64") == -1234.5678


def test_wrong_register_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="float32 needs 2 registers"):
        decode_number([0x4148], "float32")


def test_string_drops_padding_and_honours_length() -> None:
    words = [0x5055, 0x4D50, 0x2D31, 0x0000]  # "PUMP-1\0\0"
    assert decode_string(words, 8) == "PUMP-1"
    assert decode_string(words, 5) == "PUMP-"
    assert decode_string([0x5550, 0x504D], 4, byte_order="little") == "PUMP"
    assert decode_string([0x4142, 0x4320], 4) == "ABC"


def test_bit() -> None:
    assert decode_bit(0b0100, 2) is True
    assert decode_bit(0b0100, 1) is False
    assert decode_bit(0x8000, 15) is True


def test_decode_field_applies_scale_and_offset() -> None:
    field = FieldConfig(
        name="t", table="holding", address=0, type="int16", scale=0.1, offset=-40.0, unit="Cel"
    )
    assert decode_field(field, [650], []) == pytest.approx(25.0)
    assert decode_field(field, [0xFFF6], []) == pytest.approx(-41.0)


def test_decode_field_of_each_kind() -> None:
    coil = FieldConfig(name="on", table="coil", address=3, type="bool")
    bit = FieldConfig(name="b", table="input", address=0, type="bit", bit=2)
    text = FieldConfig(name="s", table="holding", address=0, type="string", length=3)
    flt = FieldConfig(
        name="f", table="input", address=0, type="float32", byte_order="little", word_order="little"
    )
    assert decode_field(coil, [], [True]) is True
    assert decode_field(bit, [0b0100], []) is True
    assert decode_field(text, [0x4142, 0x4344], []) == "ABC"
    assert decode_field(flt, [0x0000, 0x4841], []) == 12.5
    assert isinstance(decode_field(flt, [0x0000, 0x4841], []), float)


def test_a_request_decoder_agrees_with_decode_field_for_every_type_and_order() -> None:
    import random

    rng = random.Random(7)
    words = [rng.randrange(0x10000) for _ in range(60)]
    bits = [rng.random() < 0.5 for _ in range(60)]
    fields = []
    address = 0
    for type_ in ("int16", "uint16", "int32", "uint32", "int64", "uint64", "float32", "float64"):
        for byte_order in ("big", "little"):
            for word_order in ("big", "little"):
                field = FieldConfig(
                    name=f"f{address}", table="holding", address=address, type=type_,
                    byte_order=byte_order, word_order=word_order, scale=0.5, offset=1.0,
                )  # fmt: skip
                fields.append(field)
                address = (address + 1) % 50
    fields.append(FieldConfig(name="s", table="holding", address=3, type="string", length=5))
    fields.append(FieldConfig(name="b", table="holding", address=9, type="bit", bit=4))
    values = RequestDecoder(0, fields).decode(words, bits)
    expected = [
        decode_field(f, words[f.address : f.address + f.width], bits[f.address :]) for f in fields
    ]
    assert len(values) == len(expected)
    for got, want in zip(values, expected, strict=True):
        assert got == want or (got != got and want != want)  # NaN decodes as NaN in both


def test_a_request_of_big_endian_numbers_decodes_in_one_unpack_with_gaps_and_scales() -> None:
    import random

    rng = random.Random(11)
    words = [rng.randrange(0x10000) for _ in range(40)]
    fields = [
        FieldConfig(name="a", table="holding", address=10, type="float32"),
        FieldConfig(name="b", table="holding", address=13, type="int16", scale=0.1),
        FieldConfig(name="c", table="holding", address=14, type="uint32", offset=-5),
        FieldConfig(name="d", table="holding", address=20, type="int64", scale=2.0),
        FieldConfig(name="e", table="holding", address=24, type="float64"),
    ]
    decoder = RequestDecoder(10, fields)
    assert decoder.whole is not None
    got = decoder.decode(words[10:], [])
    want = [decode_field(f, words[f.address : f.address + f.width], []) for f in fields]
    assert got == want or all(g == w or (g != g and w != w) for g, w in zip(got, want, strict=True))


def test_overlapping_or_unordered_fields_take_the_per_field_path() -> None:
    words = [0x4148, 0x0000, 0x0001]
    fields = [
        FieldConfig(name="whole", table="holding", address=0, type="float32"),
        FieldConfig(name="high", table="holding", address=0, type="uint16"),
    ]
    decoder = RequestDecoder(0, fields)
    assert decoder.whole is None
    assert decoder.decode(words, []) == [12.5, 0x4148]
