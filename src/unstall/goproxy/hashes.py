"""The h1 hash of Go modules and the go.sum file format.

h1 is dirhash.Hash1: for every file (sorted by name) a line
``hex(sha256(content)) + "  " + name + "\\n"``; the hash is ``"h1:" +
base64(sha256(all lines))``. A zip is hashed over its entry names as stored
(``module@version/...``); a go.mod over one file named ``go.mod``.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final

from unstall.errors import GoSumError
from unstall.goproxy.paths import check_module_path, check_version

_CHUNK: Final = 1 << 16


def hash1(files: Iterable[tuple[str, bytes]]) -> str:
    """h1 over ``(name, sha256 digest)`` pairs; names must not contain newlines."""
    summary = hashlib.sha256()
    for name, digest in sorted(files):
        if "\n" in name:
            raise ValueError(f"file name with newline: {name!r}")
        summary.update(f"{digest.hex()}  {name}\n".encode())
    return "h1:" + base64.b64encode(summary.digest()).decode()


def hash_gomod(content: bytes) -> str:
    """h1 of a go.mod file, as go.sum records it on the ``/go.mod`` line."""
    return hash1([("go.mod", hashlib.sha256(content).digest())])


def _sha256_stream(stream: IO[bytes]) -> bytes:
    digest = hashlib.sha256()
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
    return digest.digest()


def hash_zip(archive: zipfile.ZipFile) -> str:
    """h1 of an open module zip; reading every entry also checks each CRC."""
    files = []
    for info in archive.infolist():
        with archive.open(info) as member:
            files.append((info.filename, _sha256_stream(member)))
    return hash1(files)


@dataclass(frozen=True, slots=True)
class GoSumLine:
    """One parsed go.sum line; ``gomod`` is True for the ``/go.mod`` hash."""

    module: str
    version: str
    gomod: bool
    hash: str
    line_number: int


@dataclass(slots=True)
class GoSum:
    """Hashes recorded in go.sum files, looked up by (module, version)."""

    zips: dict[tuple[str, str], str] = field(default_factory=dict)
    mods: dict[tuple[str, str], str] = field(default_factory=dict)

    def add(self, line: GoSumLine) -> None:
        """Record a line; the first hash seen for a key wins, as in go."""
        table = self.mods if line.gomod else self.zips
        table.setdefault((line.module, line.version), line.hash)

    def zip_hash(self, module: str, version: str) -> str | None:
        """The recorded h1 of the module zip, if go.sum lists it."""
        return self.zips.get((module, version))

    def mod_hash(self, module: str, version: str) -> str | None:
        """The recorded h1 of the go.mod, if go.sum lists it."""
        return self.mods.get((module, version))

    def versions(self) -> list[tuple[str, str, bool]]:
        """Every (module, version, has_zip) pair, sorted, each once."""
        keys = set(self.mods) | set(self.zips)
        return sorted((m, v, (m, v) in self.zips) for m, v in keys)


def parse_gosum_line(text: str, line_number: int, source: str = "go.sum") -> GoSumLine | None:
    """Parse one go.sum line; blank lines give None; malformed lines raise GoSumError."""
    fields = text.split()
    if not fields:
        return None
    if len(fields) != 3:
        raise GoSumError(
            source, line_number, f"want 3 fields, found {len(fields)}: {text.strip()!r}"
        )
    module, version, digest = fields
    gomod = version.endswith("/go.mod")
    if gomod:
        version = version[: -len("/go.mod")]
    try:
        check_module_path(module)
        check_version(version, canonical=True)
    except Exception as exc:
        raise GoSumError(source, line_number, str(exc)) from exc
    if not digest.startswith("h1:"):
        raise GoSumError(source, line_number, f"unsupported hash {digest!r} (want h1:...)")
    try:
        raw = base64.b64decode(digest[3:], validate=True)
    except ValueError as exc:
        raise GoSumError(source, line_number, f"hash {digest!r} is not base64") from exc
    if len(raw) != hashlib.sha256().digest_size:
        raise GoSumError(source, line_number, f"hash {digest!r} is not a SHA-256 digest")
    return GoSumLine(module, version, gomod, digest, line_number)


def iter_gosum(text: str, source: str = "go.sum") -> Iterator[GoSumLine | GoSumError]:
    """Yield each parsed line or the error for a malformed one, so callers can go on."""
    for number, line in enumerate(text.splitlines(), start=1):
        try:
            parsed = parse_gosum_line(line, number, source)
        except GoSumError as exc:
            yield exc
            continue
        if parsed is not None:
            yield parsed


def load_gosum(paths: Iterable[Path]) -> tuple[GoSum, list[GoSumError]]:
    """Read go.sum files that exist; return the hashes and the malformed lines."""
    gosum = GoSum()
    problems: list[GoSumError] = []
    for path in paths:
        if not path.is_file():
            continue
        for item in iter_gosum(path.read_text(encoding="utf-8", errors="replace"), str(path)):
            if isinstance(item, GoSumError):
                problems.append(item)
            else:
                gosum.add(item)
    return gosum, problems


__all__ = [
    "GoSum",
    "GoSumLine",
    "hash1",
    "hash_gomod",
    "hash_zip",
    "iter_gosum",
    "load_gosum",
    "parse_gosum_line",
]
