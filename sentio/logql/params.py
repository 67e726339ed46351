"""Loki's query parameters: times, durations, steps, limits and direction."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sentio.errors import LogQLError
from sentio.logql.parser import parse_duration

NS = 1_000_000_000
DEFAULT_LIMIT = 100
DEFAULT_SINCE_NS = 3600 * NS
MAX_LIMIT = 1_000_000
_FLOAT = re.compile(r"[+-]?([0-9]*[.])?[0-9]+([eE][+-]?[0-9]+)?")


class ParamError(LogQLError):
    """Raise when a query parameter is malformed (Loki's HTTP 400)."""


def parse_time(text: str, name: str) -> int:
    """Return a Loki time parameter (Unix s/ms/µs/ns, float seconds, RFC 3339) in nanoseconds."""
    text = text.strip()
    if text.isdigit():
        n = int(text)
        digits = len(text)
        if digits <= 10:
            return n * NS
        if digits <= 13:
            return n * 1_000_000
        if digits <= 16:
            return n * 1_000
        return n
    if _FLOAT.fullmatch(text):
        return round(float(text) * NS)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ParamError(f"invalid {name}: cannot parse {text!r} as a time") from exc
    frac = re.search(r"\.([0-9]+)", text)
    ns = int(parsed.replace(microsecond=0).timestamp()) * NS
    return ns + (int((frac.group(1) + "000000000")[:9]) if frac else 0)


def parse_step(text: str, name: str = "step") -> int:
    """Return a Loki step or duration parameter (``15s`` or float seconds) in nanoseconds."""
    text = text.strip()
    if _FLOAT.fullmatch(text):
        return round(float(text) * NS)
    try:
        return parse_duration(text)
    except LogQLError as exc:
        raise ParamError(f"invalid {name}: cannot parse {text!r} as a duration") from exc


@dataclass(frozen=True)
class RangeParams:
    """The parameters of a range request."""

    query: str
    start: int
    end: int
    limit: int
    forward: bool
    step_ns: int
    interval_ns: int


def _limit(args: Mapping[str, str]) -> int:
    text = args.get("limit", "") or str(DEFAULT_LIMIT)
    try:
        limit = int(text)
    except ValueError as exc:
        raise ParamError(f"invalid limit: {text!r} is not an integer") from exc
    if limit <= 0:
        raise ParamError("limit must be a positive value")
    return min(limit, MAX_LIMIT)


def _direction(args: Mapping[str, str]) -> bool:
    text = (args.get("direction") or "backward").lower()
    if text not in ("forward", "backward"):
        raise ParamError(f"invalid direction: {text!r} (forward or backward)")
    return text == "forward"


def window(args: Mapping[str, str], now_ns: int | None = None) -> tuple[int, int]:
    """Return (start, end) from ``start``/``end``/``since``, defaulting to the last hour."""
    now = time.time_ns() if now_ns is None else now_ns
    end = parse_time(args["end"], "end") if args.get("end") else now
    if args.get("start"):
        start = parse_time(args["start"], "start")
    elif args.get("since"):
        start = end - parse_step(args["since"], "since")
    else:
        start = end - DEFAULT_SINCE_NS
    if end < start:
        raise ParamError("end timestamp must not be before or equal to start time")
    return start, end


def range_params(args: Mapping[str, str]) -> RangeParams:
    """Return the parameters of ``/query_range``."""
    query = args.get("query", "")
    if not query:
        raise ParamError("query parameter is required")
    start, end = window(args)
    if args.get("step"):
        step = parse_step(args["step"])
    else:
        step = max(NS, math.ceil((end - start) / 250 / NS) * NS)
    if step <= 0:
        raise ParamError("zero or negative query resolution step widths are not accepted")
    if (end - start) / step > 11000:
        raise ParamError(
            "exceeded maximum resolution of 11,000 points per timeseries. "
            "Try decreasing the query resolution (?step=XX)"
        )
    interval = parse_step(args["interval"], "interval") if args.get("interval") else 0
    return RangeParams(query, start, end, _limit(args), _direction(args), step, interval)


def instant_params(args: Mapping[str, str]) -> tuple[str, int, int, bool]:
    """Return (query, time, limit, forward) of ``/query``."""
    query = args.get("query", "")
    if not query:
        raise ParamError("query parameter is required")
    at = parse_time(args["time"], "time") if args.get("time") else time.time_ns()
    return query, at, _limit(args), _direction(args)
