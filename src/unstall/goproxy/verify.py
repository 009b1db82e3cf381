"""Integrity rules every artifact passes before it is cached or served.

The limits are go's own (cmd/go/internal/modfetch): a module zip of at most
500 MiB (compressed and uncompressed), a go.mod of at most 16 MiB. Zip entries
must all live under ``module@version/`` with no absolute or ``..`` paths, and
h1 hashes must equal go.sum's wherever go.sum lists the version.
"""

from __future__ import annotations

import json
import posixpath
import zipfile
from pathlib import Path
from typing import Final

from unstall.errors import ChecksumMismatch, IntegrityError
from unstall.goproxy.hashes import GoSum, hash_gomod, hash_zip
from unstall.goproxy.paths import Artifact, Kind, check_version, is_canonical_version

MAX_ZIP_BYTES: Final = 500 << 20
MAX_MOD_BYTES: Final = 16 << 20
MAX_META_BYTES: Final = 1 << 20  # .info, @latest: a few hundred bytes in practice
MAX_LIST_BYTES: Final = 16 << 20


def max_bytes(kind: Kind) -> int:
    """The largest body accepted for ``kind``."""
    return {
        Kind.ZIP: MAX_ZIP_BYTES,
        Kind.MOD: MAX_MOD_BYTES,
        Kind.LIST: MAX_LIST_BYTES,
        Kind.INFO: MAX_META_BYTES,
        Kind.LATEST: MAX_META_BYTES,
    }[kind]


def verify_info(artifact: Artifact, data: bytes) -> None:
    """`.info` and `@latest` must be JSON objects naming a valid (and the asked) version."""
    try:
        info = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntegrityError(f"{artifact}: not valid JSON: {exc}", cause="integrity-info") from exc
    version = info.get("Version") if isinstance(info, dict) else None
    if not isinstance(version, str) or not is_canonical_version(version):
        raise IntegrityError(
            f"{artifact}: Version {version!r} is not a canonical version", cause="integrity-info"
        )
    # A query such as a branch name resolves to some canonical version; a canonical
    # request must come back as itself.
    asked = artifact.version if artifact.kind is Kind.INFO else ""
    if is_canonical_version(asked) and version != asked:
        raise IntegrityError(
            f"{artifact}: upstream answered Version {version!r}", cause="integrity-info"
        )


def verify_list(artifact: Artifact, data: bytes) -> None:
    """Every line of a version list starts with a canonical version."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise IntegrityError(f"{artifact}: list is not UTF-8", cause="integrity-info") from exc
    for line in text.splitlines():
        fields = line.split()
        if fields:
            try:
                check_version(fields[0], canonical=True)
            except Exception as exc:
                raise IntegrityError(
                    f"{artifact}: bad list line {line!r}", cause="integrity-info"
                ) from exc


def verify_mod(artifact: Artifact, data: bytes, gosum: GoSum) -> str:
    """Check a go.mod against go.sum; return its h1."""
    if len(data) > MAX_MOD_BYTES:
        raise IntegrityError(f"{artifact}: go.mod larger than 16 MiB", cause="integrity-size")
    got = hash_gomod(data)
    expected = gosum.mod_hash(artifact.module, artifact.version)
    if expected is not None and expected != got:
        raise ChecksumMismatch(f"{artifact.module}@{artifact.version}/go.mod", expected, got)
    return got


def _check_entry(name: str, prefix: str, artifact: Artifact) -> None:
    if name.startswith("/") or "\\" in name or "\x00" in name:
        raise IntegrityError(f"{artifact}: unsafe zip entry {name!r}")
    if not name.startswith(prefix):
        raise IntegrityError(f"{artifact}: zip entry {name!r} is outside {prefix}")
    parts = name[len(prefix) :].split("/")
    if ".." in parts or posixpath.isabs(name):
        raise IntegrityError(f"{artifact}: zip entry {name!r} escapes with '..'")


def verify_zip(artifact: Artifact, path: Path, gosum: GoSum) -> str:
    """Check a downloaded module zip's layout, size and h1; return its h1."""
    if path.stat().st_size > MAX_ZIP_BYTES:
        raise IntegrityError(f"{artifact}: zip larger than 500 MiB", cause="integrity-size")
    prefix = f"{artifact.module}@{artifact.version}/"
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = set()
            total = 0
            for info in infos:
                _check_entry(info.filename, prefix, artifact)
                if info.filename.lower() in names:
                    raise IntegrityError(f"{artifact}: duplicate zip entry {info.filename!r}")
                names.add(info.filename.lower())
                total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise IntegrityError(
                    f"{artifact}: unzipped size over 500 MiB", cause="integrity-size"
                )
            got = hash_zip(archive)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        raise IntegrityError(f"{artifact}: corrupt zip: {exc}") from exc
    expected = gosum.zip_hash(artifact.module, artifact.version)
    if expected is not None and expected != got:
        raise ChecksumMismatch(f"{artifact.module}@{artifact.version}", expected, got)
    return got


__all__ = [
    "MAX_MOD_BYTES",
    "MAX_ZIP_BYTES",
    "max_bytes",
    "verify_info",
    "verify_list",
    "verify_mod",
    "verify_zip",
]
