"""The fast sample decoder gives what parsing every number gives, or leaves the item alone."""

from __future__ import annotations

import numpy as np
import pytest
from sentio.ai_engine.samples import samples


def parsed(pairs: bytes) -> tuple[np.ndarray, np.ndarray]:
    numbers = np.fromstring(pairs.translate(None, b'[]"'), dtype=np.float64, sep=",")
    return numbers[0::2], numbers[1::2]


def body(stamps: list[str], values: list[str]) -> bytes:
    return ",".join(f'[{t},"{v}"]' for t, v in zip(stamps, values, strict=True)).encode()


@pytest.mark.parametrize("seed", range(20))
def test_integer_stamps_of_one_width_decode_as_every_number_parsed(seed: int) -> None:
    rng = np.random.default_rng(seed)
    width = int(rng.integers(1, 13))
    n = int(rng.integers(1, 3000))
    low = 0 if width == 1 else 10 ** (width - 1)
    stamps = np.sort(rng.integers(low, 10**width, n)).astype(str).tolist()
    pool = ["NaN", "+Inf", "-Inf", "0", "-0", "1e+06", "3.5e-07"]
    scale = 10 ** float(rng.uniform(-3, 6))
    numbers = np.round(rng.normal(0, scale, n), int(rng.integers(0, 6)))
    values = [
        pool[int(rng.integers(len(pool)))] if rng.random() < 0.05 else repr(float(v))
        for v in numbers
    ]
    pairs = body(stamps, values)
    got = samples(pairs)
    assert got is not None
    want = parsed(pairs)
    np.testing.assert_array_equal(got[0], want[0])
    np.testing.assert_array_equal(got[1], want[1])


@pytest.mark.parametrize(
    "pairs",
    [
        body(["1700000000", "170000006"], ["1", "2"]),  # widths differ
        body(["1700000000.5", "1700000060.5"], ["1", "2"]),  # fractional seconds
        body(["-60", "-30"], ["1", "2"]),
        body(["10", "20"], ["1,5", "2"]),  # a comma inside a value
        body(["10", "20"], ["[1", "2"]),
        b"",
        b'[10,"1"],[20,"2"',
    ],
)
def test_anything_else_is_left_to_the_parser(pairs: bytes) -> None:
    try:
        got = samples(pairs)
    except ValueError:
        return  # the caller falls back on ValueError as on None
    assert got is None
