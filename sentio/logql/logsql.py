"""LogsQL text: quoted strings, field names and literal regexes."""

from __future__ import annotations

import json
import re

_RE2_META = re.compile(r"([\\.+*?()|\[\]{}^$])")


def re2_escape(text: str) -> str:
    """Return ``text`` as an RE2 regex that matches it literally."""
    return _RE2_META.sub(r"\\\1", text)


def quote(text: str) -> str:
    """Return ``text`` as a LogsQL quoted string."""
    return json.dumps(text, ensure_ascii=False)


def qf(name: str) -> str:
    """Return a field name for LogsQL: internal names bare, others quoted."""
    return name if name in ("_msg", "_time", "_stream") else quote(name)
