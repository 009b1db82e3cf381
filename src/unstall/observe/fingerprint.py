"""Error fingerprints: one failure, one group, across runs and across commands.

A message is normalised by replacing what varies between two occurrences of the same
failure: timestamps, URLs, addresses and ports, host names (when known), versions,
hashes and hex ids, paths (temporary directories above all) and numbers. The group id
is a short digest of the normalised text, so ``unstall go`` on Monday and ``unstall
fleet`` on Friday that hit "connection refused" from two mirrors land in one group.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Final

_TIMESTAMP: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|\b\d{2}:\d{2}:\d{2}(?:[.,]\d+)?\b"
)
# scheme://authority: which mirror failed is a property of the occurrence, not the group.
_URL: Final = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s/\"'<>]*[^\s/\"'<>:,;)]")
_UUID: Final = re.compile(r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-\w{12}\b")
_IPV4: Final = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b")
_IPV6: Final = re.compile(r"\[[0-9a-fA-F:]*:[0-9a-fA-F:]*\](?::\d+)?")
# go.sum hashes (h1:...=) and base64 digests.
_HASH: Final = re.compile(
    r"\bh1:[A-Za-z0-9+/]{20,}={0,2}|\bsha(?:1|256|512)[-:][A-Za-z0-9+/=]{16,}"
)
# Semantic versions, including Go pseudo-versions and +incompatible.
_VERSION: Final = re.compile(r"\bv\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?(?![\w.])")
_PATH: Final = re.compile(r"(?<![\w<])(?:~|\.{1,2})?(?:/[\w.@+%=-]+){2,}/?|(?<![\w<])/[\w.@+-]+")
# Hex with at least one digit and one letter, or long enough to be an id (commit, digest).
_HEX: Final = re.compile(
    r"\b0x[0-9a-fA-F]+\b|\b(?=[0-9a-fA-F]*[a-fA-F])(?=[0-9a-fA-F]*\d)[0-9a-fA-F]{7,}\b"
)
_NUMBER: Final = re.compile(r"\d+(?:\.\d+)?")
_SPACE: Final = re.compile(r"\s+")
_ID_LENGTH: Final = 12
_ERROR_WORD: Final = re.compile(r"(?i)\b(?:error|errors|fatal|failed|failure|cannot|denied)\b")
_SPECIFIC: Final = re.compile(r"^(?:E:|ERROR\b|[Ee]rror:|fatal:|FATAL\b)")


def error_line(output_tail: str, error: str | None = None) -> str:
    """The most specific error line of an output tail (``error`` when there is no output)."""
    lines = [line.strip() for line in output_tail.splitlines() if line.strip()]
    for line in lines:
        if _SPECIFIC.match(line):
            return line  # the first "E:" line: later ones are usually consequences
    for line in reversed(lines):
        if _ERROR_WORD.search(line):
            return line
    if lines:
        return lines[-1]
    return error or ""


def normalize(message: str, hosts: Iterable[str] = ()) -> str:
    """``message`` with everything that varies between occurrences replaced by placeholders.

    ``hosts`` are names to replace by ``<host>`` (a fleet's inventory names): a host
    name is only recognisable as such when the caller knows it.
    """
    text = _TIMESTAMP.sub("<time>", message)
    text = _URL.sub("<url>", text)
    text = _UUID.sub("<hex>", text)
    # Addresses before numbers: a host whose inventory name is its address reads "<ip>".
    text = _IPV4.sub("<ip>", text)
    text = _IPV6.sub("<ip>", text)
    # Longest names first, so that "web10" is not eaten by "web1".
    for name in sorted({h for h in hosts if h}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w.-]){re.escape(name)}(?![\w-])", "<host>", text)
    text = _HASH.sub("<hash>", text)
    text = _VERSION.sub("<version>", text)
    text = _PATH.sub("<path>", text)
    text = _HEX.sub("<hex>", text)
    text = _NUMBER.sub("<n>", text)
    return _SPACE.sub(" ", text).strip()


def group_id(normalized: str) -> str:
    """The stable id of the group whose normalised message is ``normalized``."""
    return hashlib.sha256(normalized.encode("utf-8")).hexdigest()[:_ID_LENGTH]


def fingerprint(message: str, hosts: Iterable[str] = ()) -> tuple[str, str]:
    """``(group id, normalised message)`` of ``message``."""
    normalized = normalize(message, hosts)
    return group_id(normalized), normalized


__all__ = ["error_line", "fingerprint", "group_id", "normalize"]
