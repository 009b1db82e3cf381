"""Removing secrets (URL credentials, tokens, DSN passwords) from anything shown or stored."""

from __future__ import annotations

import re
from typing import Final

# Greedy up to the last '@' before the path: a raw '@' inside a password is hidden too.
_URL_CREDENTIALS: Final = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s?#]*@")
# A proxy written without a scheme (HTTPS_PROXY=user:pass@host:3128 works for curl and
# go): "name:secret@" right before a host. A colon is required, so git's "git@host:path"
# stays as it is.
_BARE_CREDENTIALS: Final = re.compile(r"(?<![\w/:@.-])[\w.%~+-]+:[^\s/@]*@(?=[\w\[])")
# Any key containing a secret-ish word: DB_PASSWORD=, private_token=, client_secret=...
_KEY_VALUE: Final = re.compile(
    r"(?i)([A-Za-z0-9_.-]*(?:password|passwd|pwd|token|secret|api[_-]?key)[A-Za-z0-9_.-]*)"
    r"=([^&\s;]+)"
)
# Only in an Authorization header: "Basic" alone is an ordinary word in TLS messages.
_AUTHORIZATION: Final = re.compile(
    r"(?i)\b((?:proxy-)?authorization\s*[:=]\s*(?:(?:bearer|basic|negotiate|ntlm|digest)\s+)?)"
    r"[^\s,;]+"
)


def redact(text: str) -> str:
    """Replace credentials in ``text`` with ``***``."""
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)
    text = _BARE_CREDENTIALS.sub("***@", text)
    text = _KEY_VALUE.sub(lambda m: f"{m.group(1)}=***", text)
    return _AUTHORIZATION.sub(lambda m: f"{m.group(1)}***", text)


__all__ = ["redact"]
