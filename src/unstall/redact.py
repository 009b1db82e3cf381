"""Removing secrets (URL credentials, tokens, DSN passwords) from anything shown or stored."""

from __future__ import annotations

import re
from typing import Final

_URL_CREDENTIALS: Final = re.compile(
    r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]*(:[^/\s@]*)?@"
)
_KEY_VALUE: Final = re.compile(r"(?i)\b(password|passwd|pwd|token|secret|api[_-]?key)=([^&\s;]+)")
_BEARER: Final = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")


def redact(text: str) -> str:
    """Replace credentials in ``text`` with ``***``."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}=***", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} ***", text)


__all__ = ["redact"]
