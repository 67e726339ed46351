"""Keep secrets out of logs and errors: credentials in URLs and bearer tokens become ``***``."""

from __future__ import annotations

import logging
import re
import traceback

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@")
_USER_ONLY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^:/@\s?#]+@")
_SECRET_PARAM = re.compile(
    r"(?P<name>[?&;](?:[A-Za-z0-9_.-]*?)"
    r"(?:token|key|secret|password|passwd|pwd|sig|signature|auth|credential|session|jwt)"
    r"[A-Za-z0-9_.-]*=)[^&;#\s'\"]*",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<kind>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=-]{8,}", re.IGNORECASE)


def redact(text: str) -> str:
    """Return ``text`` with the credentials of every URL and bearer token masked.

    ``scheme://user:password@`` keeps the user, ``scheme://token@`` loses it all, a query
    parameter named like a secret (``token``, ``api_key``, ``X-Amz-Signature``...) keeps its
    name, and ``Bearer <token>`` keeps the word.
    """
    text = _USERINFO.sub(r"\g<scheme>\g<user>:***@", text)
    text = _USER_ONLY.sub(r"\g<scheme>***@", text)
    text = _SECRET_PARAM.sub(r"\g<name>***", text)
    return _BEARER.sub(r"\g<kind>***", text)


class RedactFilter(logging.Filter):
    """Mask credentials in every record a handler emits: message, arguments and traceback.

    A traceback that would show a credential is folded, redacted, into the message, so neither
    a text formatter nor the OTLP handler (which reads ``exc_info`` itself) sees the original.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Replace the record's message by its redacted text; keep the record."""
        message = record.getMessage()
        masked = redact(message)
        if record.exc_info and record.exc_info[1] is not None:
            trace = "".join(traceback.format_exception(*record.exc_info))
            if redact(trace) != trace:
                masked = f"{masked}\n{redact(trace).rstrip()}"
                record.exc_info, record.exc_text = None, None
        if record.stack_info and redact(record.stack_info) != record.stack_info:
            record.stack_info = redact(record.stack_info)
        if masked != message:
            record.msg, record.args = masked, None
        return True
