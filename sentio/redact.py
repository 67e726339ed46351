"""Keep secrets out of logs and errors: passwords in URLs become ``***``."""

from __future__ import annotations

import logging
import re

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")


def redact(text: str) -> str:
    """Return ``text`` with the password of every ``scheme://user:password@`` URL masked."""
    return _USERINFO.sub(r"\g<scheme>\g<user>:***@", text)


class RedactFilter(logging.Filter):
    """Mask URL passwords in every record a handler emits (message and arguments)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted text; keep the record."""
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
