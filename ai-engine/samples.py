"""Decode a `query_range` item's samples (``[t,"v"],…``) with as little per-number work as can be.

VictoriaMetrics writes each sample as ``[<seconds>,"<value>"]``, the seconds an integer on the
query's grid. When every timestamp has the same number of digits, they are read as digits by
array arithmetic, and only the values go through numpy's parser; anything else is left to the
caller's parser.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
MAX_DIGITS = 15  # an integer of up to 15 digits is exact in a double
TENS = 10 ** np.arange(MAX_DIGITS, dtype=np.int64)
OPEN, COMMA, QUOTE, ZERO = (ord(c) for c in '[,"0')


def integer_stamps(pairs: bytes, count: int) -> FloatArray | None:
    """Return the ``count`` timestamps of ``pairs`` if all are integers of one width, else None."""
    text = np.frombuffer(pairs, dtype=np.uint8)
    opens = np.flatnonzero(text == OPEN)
    if len(opens) != count or count == 0:
        return None
    width = int(np.flatnonzero(text[opens[0] + 1 :] == COMMA)[0]) if COMMA in pairs else 0
    if not 1 <= width <= MAX_DIGITS or int(opens[-1]) + width + 2 >= len(text):
        return None
    if not (text[opens + width + 1] == COMMA).all() or not (text[opens + width + 2] == QUOTE).all():
        return None
    digits = np.lib.stride_tricks.sliding_window_view(text, width)[opens + 1] - np.uint8(ZERO)
    if int(digits.max()) > 9:  # below '0' wraps round to above 9 too
        return None
    stamps: FloatArray = (digits.astype(np.int64) @ TENS[width - 1 :: -1]).astype(np.float64)
    return stamps


def samples(pairs: bytes) -> tuple[FloatArray, FloatArray] | None:
    """Return (timestamps, values) of ``[t,"v"],[t,"v"],…``; None if it needs a real parser."""
    parts = pairs.split(b'"')
    if len(parts) % 2 == 0 or not pairs.endswith(b'"]'):
        return None
    quoted = parts[1::2]
    stamps = integer_stamps(pairs, len(quoted))
    if stamps is None:
        return None
    values = np.fromstring(b",".join(quoted), dtype=np.float64, sep=",")
    return (stamps, values) if len(values) == len(stamps) else None
