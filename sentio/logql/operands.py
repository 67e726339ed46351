"""LogQL operands with their own syntax: JSON paths, |> patterns, ip() ranges, regexes."""

from __future__ import annotations

import html
import ipaddress
import re

from sentio.errors import LogQLParseError, LogQLTranslationError
from sentio.logql.logsql import quote, re2_escape
from sentio.logql.parser import LINE_PATTERN_CAPTURE, unquote

_JSON_STEP = re.compile(
    r'\.?([A-Za-z_][A-Za-z0-9_]*)|\[\s*"((?:\\.|[^"\\])*)"\s*\]|\[\s*([0-9]+)\s*\]'
)


def json_path(label: str, expr: str) -> str:
    """Return the flattened field of a Loki JSON expression (``a.b``, ``a["b-c"]``)."""
    parts: list[str] = []
    pos = 0
    while pos < len(expr):
        m = _JSON_STEP.match(expr, pos)
        if m is None or (m.group(1) and pos > 0 and expr[pos] != "."):
            raise LogQLParseError(f"json {label}={quote(expr)}: not a JSON expression")
        if m.group(3) is not None:
            raise _refuse(
                f"json {label}={quote(expr)}",
                "array indexes: VictoriaLogs' unpack_json keeps arrays as JSON text",
            )
        key = m.group(1) if m.group(1) else unquote(f'"{m.group(2)}"')
        if "." in key or not key:
            raise _refuse(
                f"json {label}={quote(expr)}",
                "a key holding '.' is ambiguous in VictoriaLogs' flattened field names",
            )
        parts.append(key)
        pos = m.end()
    if not parts:
        raise LogQLParseError(f"json {label}={quote(expr)}: empty JSON expression")
    return ".".join(parts)


def go_regex(regex: str) -> re.Pattern[str]:
    """Compile an anchored RE2 regex with Python's re, refusing what re reads otherwise."""
    if re.search(r"\\[pPzCQE]|\[\[:", regex):
        raise _refuse(
            f"label_replace regex {quote(regex)}",
            "RE2 classes (\\p, [[:...:]]), \\z, \\C and \\Q...\\E are not evaluated here",
        )
    try:
        return re.compile(f"(?:{regex})")  # matched whole (fullmatch), as Prometheus anchors it
    except re.error as exc:
        raise LogQLParseError(f"label_replace: invalid regex {quote(regex)}: {exc}") from exc


def pattern_parser(pattern: str) -> list[str]:
    """Return the extract pipes of ``| pattern``, matching as Loki's pattern parser does.

    Loki anchors a leading literal at the line's start, takes each capture up to the first
    occurrence of the literal after it and, where that literal is missing, gives the capture
    the rest of the line and stops; ``extract`` leaves it empty there, so each such case gets
    an ``extract if`` of the pattern cut after that capture. Captures are ``plain:`` (Loki does
    not unquote) and literals HTML-escaped (``extract`` unescapes them).
    """
    parts: list[tuple[bool, str]] = []  # (is a capture, its name or the literal)
    pos = 0
    for m in LINE_PATTERN_CAPTURE.finditer(pattern):
        if m.start() > pos:
            parts.append((False, pattern[pos : m.start()]))
        elif parts and parts[-1][0]:
            raise LogQLParseError(f"pattern {quote(pattern)}: consecutive captures")
        parts.append((True, m.group(1)))
        pos = m.end()
    if pos < len(pattern):
        parts.append((False, pattern[pos:]))
    if not any(is_capture for is_capture, _ in parts):
        raise LogQLParseError(f"pattern {quote(pattern)}: at least one capture is required")
    lead = "" if parts[0][0] else parts[0][1]
    body = parts[1:] if lead else parts
    head = f"^{re2_escape(lead)}" if lead else ""

    def text(chunk: list[tuple[bool, str]]) -> str:
        out = html.escape(lead, quote=False)
        for is_capture, value in chunk:
            if is_capture:
                out += "<_>" if value == "_" else f"<plain:{value}>"
            else:
                out += html.escape(value, quote=False)
        return out

    def occurs(literals: list[str]) -> str:
        regex = head + "".join(f"(?s:.*){re2_escape(x)}" for x in literals)
        return f"_msg:~{quote(regex)}"

    literals = [value for is_capture, value in body if not is_capture]
    pipes = [f"extract if ({occurs(literals) if literals or head else '*'}) {quote(text(body))}"]
    seen: list[str] = []
    for i, (is_capture, value) in enumerate(body):
        if is_capture:
            continue
        # the literal ``value`` is the first missing one: the capture before it takes the rest
        chunk = body[:i]
        if any(c and v != "_" for c, v in chunk):
            cond = f"-{occurs([*seen, value])}"
            if seen or head:
                cond = f"{occurs(seen)} {cond}"
            pipes.append(f"extract if ({cond}) {quote(text(chunk))}")
        seen.append(value)
    return pipes


def line_pattern(pattern: str, prefix: str) -> tuple[str, str, list[str]]:
    """Return the extract pipe (or ""), the filter and the fields of one |> pattern."""
    parts: list[str | None] = []  # None: a capture
    pos = 0
    for m in LINE_PATTERN_CAPTURE.finditer(pattern):
        if m.start() > pos:
            parts.append(pattern[pos : m.start()])
        parts.append(None)
        pos = m.end()
    if pos < len(pattern):
        parts.append(pattern[pos:])
    literals = [p for p in parts if p is not None]
    if not parts:
        return "", '_msg:=""', []  # an empty pattern matches only an empty line
    if not literals:
        return "", "_msg:*", []  # <_>: any line that is not empty
    names: list[str] = []
    checks = [f"_msg:~{quote('(?s)' + '.*'.join(re2_escape(x) for x in literals))}"]
    text = ""
    if parts[0] is not None:
        names.append(f"{prefix}{len(names)}")  # a leading literal may be anywhere in the line
        text += f"<plain:{names[-1]}>"
    for part in parts:
        if part is None:
            names.append(f"{prefix}{len(names)}")
            text += f"<plain:{names[-1]}>"
            checks.append(f"{names[-1]}:*")
        else:
            text += html.escape(part, quote=False)
    if parts[-1] is not None:
        names.append(f"{prefix}{len(names)}")
        text += f"<plain:{names[-1]}>"
        checks.append(f'{names[-1]}:""')
    return f"extract {quote(text)}", " ".join(checks), names


_MAPPED = ipaddress.ip_network("::ffff:0:0/96")


def ip_range(name: str, op: str, pattern: str) -> str:
    """Return the LogsQL ``ipv4_range``/``ipv6_range`` of a Loki ip(): an address, a-b or a CIDR."""
    lo: ipaddress.IPv4Address | ipaddress.IPv6Address
    hi: ipaddress.IPv4Address | ipaddress.IPv6Address
    try:
        if "/" in pattern:
            net = ipaddress.ip_network(pattern, strict=False)
            lo, hi = net.network_address, net.broadcast_address
        elif "-" in pattern:
            lo, hi = (ipaddress.ip_address(x) for x in pattern.split("-", 1))
        else:
            lo = hi = ipaddress.ip_address(pattern)
    except ValueError as exc:
        raise LogQLParseError(f"{name}{op}ip({quote(pattern)}): not an IP, range or CIDR") from exc
    if lo.version != hi.version or lo > hi:  # type: ignore[operator]
        raise LogQLParseError(f"{name}{op}ip({quote(pattern)}): not an IP range")
    if lo.version == 6 and (
        "%" in pattern
        or any(isinstance(a, ipaddress.IPv6Address) and a in _MAPPED for a in (lo, hi))
        or (lo < _MAPPED.network_address < hi)  # type: ignore[operator]
    ):
        # VictoriaLogs reads IPv4-mapped IPv6 as IPv4; Loki keeps the two families apart
        raise _refuse(f"{name}{op}ip({quote(pattern)})", "IPv4-mapped or zoned IPv6 ranges")
    fn = "ipv4_range" if lo.version == 4 else "ipv6_range"
    if lo == hi:
        return f"{fn}({quote(str(lo))})"
    return f"{fn}({quote(str(lo))}, {quote(str(hi))})"


def _refuse(construct: str, reason: str) -> LogQLTranslationError:
    return LogQLTranslationError(construct, reason)
