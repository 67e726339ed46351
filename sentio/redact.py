"""Keep secrets out of logs and errors: passwords in URLs become ``***``."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")


def redact(text: str) -> str:
    """Return ``text`` with the password of every ``scheme://user:password@`` URL masked."""
    return _USERINFO.sub(r"\g<scheme>\g<user>:***@", text)
