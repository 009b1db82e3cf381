"""What the fake upstream answers, before any transport fault: routing, content faults, Range.

Pure functions of the request, kept apart from the socket handling in
:mod:`tests.support.upstream`. Path unescaping is written here independently of
the production code on purpose, so the fake cannot share its bugs.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from tests.support.faults import CorruptZip, Fault, Status, WrongContent
from tests.support.modfactory import ModuleSet

TEXT: Final = "text/plain; charset=utf-8"
_RANGE: Final = re.compile(r"^bytes=(\d+)-(\d*)$")
_ESCAPED: Final = re.compile(r"^[^A-Z!]*(?:![a-z][^A-Z!]*)*$")
_LOCAL_HEADER: Final = struct.Struct("<4s22xHH")


@dataclass
class Answer:
    """A planned HTTP response: status, body and the headers beyond the framing ones."""

    status: int
    body: bytes
    content_type: str = TEXT
    headers: list[tuple[str, str]] = field(default_factory=list)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), if present."""
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)


def unescape_path(text: str) -> str | None:
    """Undo ``!x`` case-escaping; None when ``text`` is not validly escaped."""
    if not _ESCAPED.match(text):
        return None
    return re.sub(r"!([a-z])", lambda m: m.group(1).upper(), text)


def etag(body: bytes) -> str:
    """A strong entity tag derived from the content."""
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def ok(body: bytes, content_type: str) -> Answer:
    """A 200 answer that supports Range requests."""
    return Answer(200, body, content_type, [("ETag", etag(body)), ("Accept-Ranges", "bytes")])


def not_found(path: str) -> Answer:
    """The 404 a module proxy gives for something it does not have."""
    return Answer(404, f"not found: {path}\n".encode())


def _bad_escape(path: str) -> Answer:
    return Answer(400, f"bad request: invalid case-escaping in {path}\n".encode())


def route(
    modules: ModuleSet,
    method: str,
    path: str,
    *,
    sumdb: bool = False,
    sumdb_files: Mapping[str, bytes] | None = None,
) -> Answer:
    """The answer of a healthy proxy holding ``modules`` to ``method path``."""
    if method not in ("GET", "HEAD"):
        return Answer(405, b"method not allowed\n", headers=[("Allow", "GET, HEAD")])
    if path.startswith("/sumdb/"):
        _name, _, rest = path[len("/sumdb/") :].partition("/")
        if not sumdb:
            return not_found(path)
        if rest == "supported":
            return Answer(200, b"")
        content = (sumdb_files or {}).get(rest)
        kind = "application/octet-stream" if rest.startswith("tile/") else TEXT
        return not_found(path) if content is None else ok(content, kind)
    trimmed = path.lstrip("/")
    if trimmed.endswith("/@latest"):
        module = unescape_path(trimmed[: -len("/@latest")])
        if module is None:
            return _bad_escape(path)
        latest = modules.latest(module)
        return not_found(path) if latest is None else ok(latest.info, "application/json")
    module_part, sep, rest = trimmed.rpartition("/@v/")
    if not sep:
        return not_found(path)
    module = unescape_path(module_part)
    if module is None:
        return _bad_escape(path)
    if rest == "list":
        versions = modules.versions(module)
        if not versions:
            return not_found(path)
        return ok("".join(f"{v}\n" for v in versions).encode(), TEXT)
    stem, _, ext = rest.rpartition(".")
    version = unescape_path(stem)
    if version is None:
        return _bad_escape(path)
    found = modules.get(module, version)
    if found is None:
        return not_found(path)
    if ext == "info":
        return ok(found.info, "application/json")
    if ext == "mod":
        return ok(found.gomod, TEXT)
    if ext == "zip":
        return ok(found.zip_bytes, "application/zip")
    return not_found(path)


def corrupt(body: bytes) -> bytes:
    """Flip 16 bytes in the middle of the largest zip entry's data (else of the body).

    Aiming at entry data (not headers) guarantees a CRC or h1 failure: a flipped
    timestamp in a header would change neither.
    """
    if not body:
        return body
    middle = len(body) // 2
    try:
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            largest = max(archive.infolist(), key=lambda i: i.compress_size)
        if largest.compress_size:
            offset = largest.header_offset
            _sig, name_len, extra_len = _LOCAL_HEADER.unpack_from(body, offset)
            data = offset + _LOCAL_HEADER.size + name_len + extra_len
            middle = data + largest.compress_size // 2
    except (zipfile.BadZipFile, ValueError, struct.error):
        pass
    span = max(1, min(16, len(body) - middle))
    flipped = bytes(b ^ 0xFF for b in body[middle : middle + span])
    return body[:middle] + flipped + body[middle + span :]


def apply_content_fault(answer: Answer, fault: Fault | None) -> Answer:
    """Replace the answer for faults that change status or content."""
    if isinstance(fault, Status):
        extra = [] if fault.retry_after is None else [("Retry-After", f"{fault.retry_after:g}")]
        return Answer(fault.code, fault.body.encode(), headers=extra)
    if isinstance(fault, WrongContent):
        return ok(fault.body, answer.content_type)
    if isinstance(fault, CorruptZip) and answer.status == 200:
        return ok(corrupt(answer.body), answer.content_type)
    return answer


def apply_range(answer: Answer, headers: Mapping[str, str]) -> Answer:
    """Honour ``Range: bytes=N-`` / ``bytes=N-M`` (and ``If-Range``) on a 200 answer."""
    wanted = headers.get("range")
    if answer.status != 200 or wanted is None:
        return answer
    if "if-range" in headers and headers["if-range"] != answer.header("ETag"):
        return answer
    match = _RANGE.match(wanted.strip())
    if match is None:
        return answer
    size = len(answer.body)
    start = int(match.group(1))
    if start >= size:
        return Answer(416, b"", headers=[("Content-Range", f"bytes */{size}")])
    end = min(int(match.group(2)) if match.group(2) else size - 1, size - 1)
    return Answer(
        206,
        answer.body[start : end + 1],
        answer.content_type,
        [*answer.headers, ("Content-Range", f"bytes {start}-{end}/{size}")],
    )


__all__ = [
    "Answer",
    "apply_content_fault",
    "apply_range",
    "corrupt",
    "etag",
    "not_found",
    "ok",
    "route",
    "unescape_path",
]
